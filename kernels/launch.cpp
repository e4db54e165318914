#include "kernels/launch.h"

#include <algorithm>
#include <array>
#include <mutex>

namespace tilenet::kernels {

void check_launch(const char* op, cudaStream_t stream) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw CudaError(detail::make_message(op, ": kernel launch failed: ", cudaGetErrorName(err), " (",
                                         cudaGetErrorString(err), ")"),
                    err);
#ifdef TILENET_SYNC_CHECKS
  err = cudaStreamSynchronize(stream);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw CudaError(detail::make_message(op, ": kernel failed during execution: ", cudaGetErrorName(err),
                                         " (", cudaGetErrorString(err), ")"),
                    err);
  }
#else
  (void)stream;
#endif
}

int sm_count() {
  static std::array<int, 64> cache{};
  static std::mutex mu;
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  if (dev < 0 || dev >= static_cast<int>(cache.size())) dev = 0;
  if (cache[dev] == 0)
    TILENET_CUDA_CHECK(cudaDeviceGetAttribute(&cache[dev], cudaDevAttrMultiProcessorCount, dev));
  return cache[dev];
}

unsigned grid_for(std::int64_t n, int threads, int per_thread) {
  if (n <= 0) return 1;
  const std::int64_t per_block = static_cast<std::int64_t>(threads) * per_thread;
  const std::int64_t needed = ceil_div<std::int64_t>(n, per_block);
  const std::int64_t cap = static_cast<std::int64_t>(sm_count()) * 8;
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min(needed, cap)));
}

#ifndef TILENET_HAS_SM90A
bool sm90a_kernels_available() { return false; }
#endif

}  // namespace tilenet::kernels
