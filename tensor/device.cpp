#include "tensor/device.h"

#include <cuda_runtime_api.h>

#include <mutex>
#include <vector>

#include "tensor/error.h"

#ifndef TILENET_CUDA_ARCHS
#define TILENET_CUDA_ARCHS "unknown"
#endif

namespace tilenet {

namespace detail {
// Defined in kernels/elementwise.cu: reports whether the device can run this build's kernels.
cudaError_t probe_kernel_image(int device);
}  // namespace detail

int cuda_device_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();
      n = 0;
    }
    return n;
  }();
  return count;
}

bool cuda_available() { return cuda_device_count() > 0; }

Device default_device() { return cuda_available() ? Device::cuda(0) : Device::cpu(); }

const char* built_cuda_architectures() { return TILENET_CUDA_ARCHS; }

int compute_capability(int index) {
  require_cuda("compute_capability", index);
  int major = 0, minor = 0;
  TILENET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index));
  TILENET_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index));
  return major * 10 + minor;
}

void require_cuda(const char* op, int index) {
  const int n = cuda_device_count();
  if (n == 0)
    throw DeviceError(detail::make_message(
        op, ": a CUDA device was requested but none is available (no GPU or no driver); "
            "use Device::cpu() or check tilenet::cuda_available() first"));
  if (index < 0 || index >= n)
    throw DeviceError(detail::make_message(op, ": CUDA device ", index, " requested but only ", n,
                                           " device(s) present"));
  static std::mutex mu;
  static std::vector<int> checked(64, 0);
  int current = -1;
  TILENET_CUDA_CHECK(cudaGetDevice(&current));
  if (current != index) TILENET_CUDA_CHECK(cudaSetDevice(index));
  std::lock_guard<std::mutex> lock(mu);
  if (index < static_cast<int>(checked.size()) && checked[index]) return;
  const cudaError_t err = detail::probe_kernel_image(index);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    int major = 0, minor = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index);
    (void)cudaGetLastError();
    throw DeviceError(detail::make_message(
        op, ": device ", index, " has compute capability ", major, ".", minor,
        " but this tilenet was built for CUDA architectures {", TILENET_CUDA_ARCHS,
        "} and has no kernel image for it (", cudaGetErrorName(err),
        "); rebuild with -DCMAKE_CUDA_ARCHITECTURES=", major, minor));
  }
  if (index < static_cast<int>(checked.size())) checked[index] = 1;
}

}  // namespace tilenet
