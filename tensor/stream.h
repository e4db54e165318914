// The current CUDA stream. Every tilenet op on a CUDA tensor is queued on its device's current
// stream; nothing synchronises implicitly except copies to the host. By default the current
// stream is one non-blocking stream per device that tilenet creates (so it can be captured into
// CUDA graphs); StreamGuard swaps in a user stream for a scope, on the calling thread.
#pragma once

#include <cuda_runtime_api.h>

namespace tilenet::cuda {

cudaStream_t current_stream(int device = 0);
// Sets the calling thread's current stream for `device`; nullptr restores tilenet's default.
void set_current_stream(cudaStream_t stream, int device = 0);
// Waits for everything queued on the current stream of `device`.
void synchronize(int device = 0);

class StreamGuard {
 public:
  StreamGuard(cudaStream_t stream, int device = 0);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  cudaStream_t previous_;
};

}  // namespace tilenet::cuda
