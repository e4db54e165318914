// Sequential: evaluate and predict (batched forward passes; one device read per call).
#include <iostream>

#include "kernels/elementwise.h"
#include "kernels/train_ops.h"
#include "nn/progress.h"
#include "nn/run_util.h"
#include "nn/sequential.h"
#include "tensor/stream.h"

namespace tilenet::nn {

using detail::make_accumulator;
using detail::sample_shape;
using detail::to_values;

Logs Sequential::evaluate_batches(Dataset& data, std::int64_t batch_size, const std::string& prefix, int verbose) {
  const bool logits = fused_head_ || loss_.from_logits;
  if (!layers_.empty()) layers_.back()->set_emit_logits(fused_head_);
  data.begin_epoch(false, 0, 0, compute_dtype());
  Tensor acc = make_accumulator(2 + static_cast<int>(plan_.names.size()), device_);
  const std::int64_t nb = data.num_batches(batch_size);
  Progbar bar(nb, verbose, std::cout, stdout_is_terminal());
  Tensor none;
  for (std::int64_t b = 0; b < nb; ++b) {
    auto [xb, yb] = data.batch(b, batch_size);
    const Tensor out = forward_all(xb, false);
    Tensor losses = losses_.slice(0, xb.dim(0));
    compute_loss(loss_, out, logits, yb, losses, none, 1.0f);
    accumulate_metrics(plan_, out, logits, yb, losses, acc);
  }
  Logs logs = read_logs(acc, prefix);
  std::vector<std::string> order{prefix + "loss"};
  for (const std::string& n : plan_.names) order.push_back(prefix + n);
  bar.finish(to_values(logs, order));
  return logs;
}

Logs Sequential::evaluate(const Tensor& x, const Tensor& y, const EvaluateOptions& options) {
  return evaluate(Dataset(x, y), options);
}

Logs Sequential::evaluate(Dataset data, const EvaluateOptions& o) {
  require_compiled("evaluate");
  const CacheClearer clear_caches_at_exit{this};
  TILENET_CHECK(o.batch_size >= 1, ValueError, "evaluate: batch_size must be positive, got ", o.batch_size);
  TILENET_CHECK(data.size() > 0 && data.y().defined(), ValueError, "evaluate: needs samples and targets");
  ensure_built(sample_shape(data.x()));
  data = Dataset(data.x(), prepare_targets(loss_, data.y(), output_shape(), "evaluate", true));
  data.to(device_);
  prepare_run(std::min(o.batch_size, data.size()), data.y(), 0);
  return evaluate_batches(data, o.batch_size, "", o.verbose);
}

Tensor Sequential::predict(const Tensor& x, std::int64_t batch_size) {
  TILENET_CHECK(batch_size >= 1, ValueError, "predict: batch_size must be positive, got ", batch_size);
  const CacheClearer clear_caches_at_exit{this};
  Dataset data(x);
  ensure_built(sample_shape(x));
  data.to(device_);
  if (!layers_.empty()) layers_.back()->set_emit_logits(false);
  data.begin_epoch(false, 0, 0, compute_dtype());
  Tensor result = Tensor::empty(with_batch(data.size(), output_shape()), DType::f32, device_);
  for (std::int64_t b = 0; b < data.num_batches(batch_size); ++b) {
    const Tensor xb = data.batch(b, batch_size).first;
    const Tensor out = forward_all(xb, false);
    Tensor dst = result.slice(b * batch_size, b * batch_size + xb.dim(0));
    if (out.dtype() == DType::f32) {
      dst.copy_from(out);
    } else if (out.is_cuda()) {
      kernels::cast(out.data<half>(), dst.data<float>(), out.numel(), cuda::current_stream(device_.index));
    } else {
      kernels::cast_ref(out.data<half>(), dst.data<float>(), out.numel());
    }
  }
  return result;
}

}  // namespace tilenet::nn
