#include "tensor/stream.h"

#include <array>
#include <mutex>

#include "tensor/device.h"
#include "tensor/error.h"

namespace tilenet::cuda {
namespace {

constexpr int kMaxDevices = 64;

cudaStream_t default_stream(int device) {
  static std::array<cudaStream_t, kMaxDevices> streams{};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!streams[device]) {
    int prev = 0;
    TILENET_CUDA_CHECK(cudaGetDevice(&prev));
    TILENET_CUDA_CHECK(cudaSetDevice(device));
    TILENET_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking));
    TILENET_CUDA_CHECK(cudaSetDevice(prev));
  }
  return streams[device];
}

thread_local std::array<cudaStream_t, kMaxDevices> t_override{};

void check_index(int device) {
  if (device < 0 || device >= kMaxDevices)
    throw DeviceError(detail::make_message("cuda stream: device index ", device, " out of range"));
}

}  // namespace

cudaStream_t current_stream(int device) {
  check_index(device);
  if (t_override[device]) return t_override[device];
  require_cuda("cuda::current_stream", device);
  return default_stream(device);
}

void set_current_stream(cudaStream_t stream, int device) {
  check_index(device);
  t_override[device] = stream;
}

void synchronize(int device) { TILENET_CUDA_CHECK(cudaStreamSynchronize(current_stream(device))); }

StreamGuard::StreamGuard(cudaStream_t stream, int device) : device_(device) {
  check_index(device);
  previous_ = t_override[device];
  t_override[device] = stream;
}

StreamGuard::~StreamGuard() { t_override[device_] = previous_; }

}  // namespace tilenet::cuda
