// The current CUDA stream. Every tilenet op on a CUDA tensor is queued on its device's current
// stream; nothing synchronises implicitly except copies that touch host memory (host -> device as
// well as device -> host: host memory is pageable). By default the current stream is one
// non-blocking stream per device that tilenet creates (so it can be captured into CUDA graphs);
// StreamGuard swaps in a user stream for a scope, on the calling thread.
//
// Memory and streams: CUDA memory is allocated for the current stream and, when freed (the last
// tensor or DeviceBuffer referring to it goes away), is reused in stream order on *that* stream
// only: the next allocation there may hand it out at once, and its new work is queued after the
// old. Work queued on any other stream is not ordered against that reuse. So a tensor allocated
// under one stream and used on another (under a StreamGuard, or allocated inside one and used after
// it) must stay alive until the other stream's work on it is done: keep a reference to it, or
// synchronise that stream (or make the allocating stream wait on an event recorded there) before
// dropping the last reference. Cached blocks are kept per stream handle: synchronise a user stream
// before destroying it, since a stream created later may get the same handle and its blocks.
// One model, one stream: nn::Sequential's buffers follow the same rule.
#pragma once

#include <cuda_runtime_api.h>

namespace tilenet::cuda {

// The calling thread's current stream for `device`: the override set by set_current_stream or a
// StreamGuard, else tilenet's default stream. Either way it checks that `device` exists and can
// run this build's kernels (DeviceError otherwise) and makes it the current CUDA device, so the
// work then queued on the returned stream is issued with its own device current.
cudaStream_t current_stream(int device = 0);
// Sets the calling thread's current stream for `device`; nullptr restores tilenet's default. The
// stream must belong to `device` (DeviceError otherwise, where the CUDA runtime can tell).
void set_current_stream(cudaStream_t stream, int device = 0);
// Waits for everything queued on the current stream of `device`.
void synchronize(int device = 0);

// Makes `stream` (which must belong to `device`) the calling thread's current stream for `device`
// until the end of the scope; the previous one is restored.
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
