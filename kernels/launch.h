// Host-side helpers every kernel launcher uses: grid arithmetic and the post-launch check.
// Host-only (no __global__), so plain C++ translation units may include it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/error.h"

namespace tilenet::kernels {

template <typename T>
constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

// Checks cudaGetLastError() after a launch; with TILENET_SYNC_CHECKS also synchronises the stream
// so that an asynchronous fault is reported at the launch that caused it. `op` names the kernel.
void check_launch(const char* op, cudaStream_t stream);

// Multiprocessor count of the current device (cached per device).
int sm_count();

// Grid size for a grid-stride loop over n items with `threads` threads per block, `per_thread`
// items per thread per iteration: enough blocks to fill the device a few times, never more than
// the work needs, at least 1.
unsigned grid_for(std::int64_t n, int threads, int per_thread = 1);

// True when this build carries the sm_90a (Hopper wgmma/TMA) kernels and the current device can
// run them.
bool sm90a_kernels_available();

// True when p is aligned to `bytes`.
inline bool is_aligned(const void* p, std::uintptr_t bytes) {
  return (reinterpret_cast<std::uintptr_t>(p) % bytes) == 0;
}

}  // namespace tilenet::kernels
