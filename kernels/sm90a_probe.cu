// Built only for sm_90a (see kernels/CMakeLists.txt). Lets the host ask whether the Hopper-only
// kernels in this library can run on the current device before choosing them.
#include <cuda_runtime_api.h>

#include <map>
#include <mutex>

namespace tilenet::kernels {

__global__ void sm90a_probe_kernel() {}

// Asked before every fp16 GEMM Auto choice on a Hopper device: the answer is cached per device.
bool sm90a_kernels_available() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  static std::mutex mu;
  static std::map<int, bool> known;
  std::lock_guard<std::mutex> lock(mu);
  const auto it = known.find(dev);
  if (it != known.end()) return it->second;
  cudaFuncAttributes attr;
  const cudaError_t err = cudaFuncGetAttributes(&attr, sm90a_probe_kernel);
  if (err != cudaSuccess) (void)cudaGetLastError();
  // Only "no image for this device" is a lasting answer; a transient failure (out of memory while
  // loading the module) is asked again next time.
  if (err == cudaSuccess || err == cudaErrorInvalidDeviceFunction || err == cudaErrorNoKernelImageForDevice)
    known.emplace(dev, err == cudaSuccess);
  return err == cudaSuccess;
}

}  // namespace tilenet::kernels
