#include "kernels/launch.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

namespace tilenet::kernels {

void check_launch(const char* op, cudaStream_t stream) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw CudaError(detail::make_message(op, ": kernel launch failed: ", cudaGetErrorName(err), " (",
                                         cudaGetErrorString(err), ")"),
                    err);
#ifdef TILENET_SYNC_CHECKS
  // Under stream capture (a CUDA graph being recorded) a synchronize would end the capture.
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &capture) == cudaSuccess && capture != cudaStreamCaptureStatusNone) return;
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

int device_attribute(cudaDeviceAttr attr) {
  static std::mutex mu;
  static std::map<std::pair<int, int>, int> cache;
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_pair(dev, static_cast<int>(attr));
  const auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  int value = 0;
  TILENET_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, dev));
  cache.emplace(key, value);
  return value;
}

int sm_count() { return device_attribute(cudaDevAttrMultiProcessorCount); }

unsigned grid_for(std::int64_t n, int threads, int per_thread) {
  if (n <= 0) return 1;
  const std::int64_t per_block = static_cast<std::int64_t>(threads) * per_thread;
  const std::int64_t needed = ceil_div<std::int64_t>(n, per_block);
  const std::int64_t cap = static_cast<std::int64_t>(sm_count()) * 8;
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min(needed, cap)));
}

void allow_dynamic_smem(const void* kernel, std::size_t bytes) {
  constexpr std::size_t kDefaultLimit = 48 * 1024;
  if (bytes <= kDefaultLimit) return;
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  static std::mutex mu;
  static std::map<std::pair<const void*, int>, std::size_t> raised;  // (kernel, device) -> limit set
  std::lock_guard<std::mutex> lock(mu);
  std::size_t& limit = raised[{kernel, dev}];
  if (limit >= bytes) return;
  TILENET_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  limit = bytes;
}

std::size_t max_dynamic_smem() {
  return static_cast<std::size_t>(device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin));
}

#ifndef TILENET_HAS_SM90A
bool sm90a_kernels_available() { return false; }
#endif

}  // namespace tilenet::kernels
