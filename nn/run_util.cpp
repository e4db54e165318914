#include "nn/run_util.h"

#include <cstring>

#include "tensor/stream.h"

namespace tilenet::nn::detail {

Tensor make_accumulator(int n, Device device) {
  return Tensor::zeros({2 * static_cast<std::int64_t>(n)}, DType::f32, device);
}

void zero_accumulator(Tensor& acc) {
  if (acc.is_cuda())
    TILENET_CUDA_CHECK(cudaMemsetAsync(acc.raw_data(), 0, acc.nbytes(), cuda::current_stream(acc.device().index)));
  else
    std::memset(acc.raw_data(), 0, acc.nbytes());
}

std::vector<double> read_accumulator(const Tensor& acc) {
  Tensor host = acc.cpu();
  const double* d = static_cast<const double*>(host.raw_data());
  return std::vector<double>(d, d + acc.numel() / 2);
}

Shape sample_shape(const Tensor& x) {
  const std::vector<std::int64_t> d = x.shape().vec();
  TILENET_CHECK(!d.empty(), ShapeError, "inputs need a batch dimension, got a 0-D tensor");
  return Shape(std::vector<std::int64_t>(d.begin() + 1, d.end()));
}

MetricValues to_values(const Logs& logs, const std::vector<std::string>& order) {
  MetricValues v;
  for (const std::string& k : order) {
    auto it = logs.find(k);
    if (it != logs.end()) v.emplace_back(k, it->second);
  }
  return v;
}

}  // namespace tilenet::nn::detail
