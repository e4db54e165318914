// Host-side helpers every kernel launcher uses: grid arithmetic and the post-launch check.
// Host-only (no __global__), so plain C++ translation units may include it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "tensor/error.h"

namespace tilenet::kernels {

// For a >= 0, b > 0; no overflow near the type's maximum.
template <typename T>
constexpr T ceil_div(T a, T b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

// Checks cudaGetLastError() after a launch; with TILENET_SYNC_CHECKS also synchronises the stream
// so that an asynchronous fault is reported at the launch that caused it. `op` names the kernel.
void check_launch(const char* op, cudaStream_t stream);

// An attribute of the current device, queried once per (device, attribute) and cached.
int device_attribute(cudaDeviceAttr attr);

// Multiprocessor count of the current device (cached per device).
int sm_count();

// Grid size for a grid-stride loop over n items with `threads` threads per block, `per_thread`
// items per thread per iteration: enough blocks to fill the device a few times, never more than
// the work needs, at least 1.
unsigned grid_for(std::int64_t n, int threads, int per_thread = 1);

// A device allocation freed on every path (its user may throw half way). A failure while freeing
// is dropped from the last-error slot, where it would surface in the caller's next launch.
struct DeviceAllocation {
  void* p = nullptr;
  explicit DeviceAllocation(std::size_t bytes) { TILENET_CUDA_CHECK(cudaMalloc(&p, bytes)); }
  ~DeviceAllocation() {
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;
};

// Two CUDA events around back-to-back launches, destroyed on every path (a launch may throw):
// the benchmarks' timing and the convolution autotuner's.
class LaunchTimer {
 public:
  LaunchTimer() {
    TILENET_CUDA_CHECK(cudaEventCreate(&start_));
    TILENET_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~LaunchTimer() {
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
  }
  LaunchTimer(const LaunchTimer&) = delete;
  LaunchTimer& operator=(const LaunchTimer&) = delete;

  // Seconds per launch of `count` calls of launch() queued on `stream` between the events (waits
  // for the last).
  template <typename F>
  double per_launch(cudaStream_t stream, int count, F&& launch) {
    TILENET_CUDA_CHECK(cudaEventRecord(start_, stream));
    for (int i = 0; i < count; ++i) launch();
    TILENET_CUDA_CHECK(cudaEventRecord(stop_, stream));
    TILENET_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    TILENET_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms / 1e3 / count;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// True when this build carries the sm_90a (Hopper wgmma/TMA) kernels and the current device can
// run them.
bool sm90a_kernels_available();

// Lets `kernel` (a __global__ function's address) launch with `bytes` of dynamic shared memory
// on the current device: above the default 48 KB the limit must be raised per kernel and per
// device (cudaFuncSetAttribute), once; smaller requests do nothing. Thread-safe.
void allow_dynamic_smem(const void* kernel, std::size_t bytes);
template <typename... Args>
void allow_dynamic_smem(void (*kernel)(Args...), std::size_t bytes) {
  allow_dynamic_smem(reinterpret_cast<const void*>(kernel), bytes);
}

// The most dynamic shared memory one block may opt into on the current device (cached per device).
std::size_t max_dynamic_smem();

// True when p is aligned to `bytes`.
inline bool is_aligned(const void* p, std::uintptr_t bytes) {
  return (reinterpret_cast<std::uintptr_t>(p) % bytes) == 0;
}

// Throws ValueError "<op>: null pointer argument" when any of `ptrs` is null.
inline void check_not_null(const char* op, std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs) TILENET_CHECK(p != nullptr, ValueError, op, ": null pointer argument");
}

}  // namespace tilenet::kernels
