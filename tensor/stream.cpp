#include "tensor/stream.h"

#include <array>
#include <mutex>

#include "tensor/device.h"
#include "tensor/device_scope.h"
#include "tensor/error.h"

namespace tilenet::cuda {
namespace {

constexpr int kMaxDevices = 64;

cudaStream_t default_stream(int device) {
  static std::array<cudaStream_t, kMaxDevices> streams{};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!streams[device]) {
    detail::DeviceScope on_device(device);  // the previous device is current again also after a throw
    TILENET_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking));
  }
  return streams[device];
}

thread_local std::array<cudaStream_t, kMaxDevices> t_override{};

void check_index(int device) {
  if (device < 0 || device >= kMaxDevices)
    throw DeviceError(detail::make_message("cuda stream: device index ", device, " out of range"));
}

// An override must be a stream of `device`. The special handles (legacy and per-thread default
// streams) name the default stream of whichever device is current, which current_stream makes
// `device`, so they fit any device.
void check_override(cudaStream_t stream, int device, const char* op) {
  check_index(device);
  if (!stream || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return;
  const int count = cuda_device_count();
  if (device >= count)
    throw DeviceError(detail::make_message(op, ": a stream for cuda:", device, " was given but ", count,
                                           " CUDA device(s) are present"));
#if CUDART_VERSION >= 12080
  int owner = -1;
  const cudaError_t err = cudaStreamGetDevice(stream, &owner);
  if (err != cudaSuccess) detail::throw_cuda_error(err, "cudaStreamGetDevice(stream)", __FILE__, __LINE__);
  if (owner != device)
    throw DeviceError(detail::make_message(op, ": the stream belongs to cuda:", owner, ", not to cuda:", device));
#else
  (void)op;
#endif
}

}  // namespace

cudaStream_t current_stream(int device) {
  check_index(device);
  // Both paths select and validate the device: ops queue work right after this call, and launches
  // and allocations go to the current device, which must be the stream's.
  require_cuda("cuda::current_stream", device);
  if (t_override[device]) return t_override[device];
  return default_stream(device);
}

void set_current_stream(cudaStream_t stream, int device) {
  check_override(stream, device, "cuda::set_current_stream");
  t_override[device] = stream;
}

void synchronize(int device) { TILENET_CUDA_CHECK(cudaStreamSynchronize(current_stream(device))); }

StreamGuard::StreamGuard(cudaStream_t stream, int device) : device_(device) {
  check_override(stream, device, "cuda::StreamGuard");
  previous_ = t_override[device];
  t_override[device] = stream;
}

StreamGuard::~StreamGuard() { t_override[device_] = previous_; }

}  // namespace tilenet::cuda
