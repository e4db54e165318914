// Internal to the tensor layer: makes a device current for a scope and restores the previous
// device after, for the runtime calls that act on the current device (cudaMalloc, cudaFree,
// cudaStreamCreate, cudaDeviceSynchronize).
#pragma once

#include <cuda_runtime_api.h>

#include "tensor/error.h"

namespace tilenet::detail {

class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    TILENET_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) TILENET_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() {
    int current = previous_;
    if (cudaGetDevice(&current) != cudaSuccess || (current != previous_ && cudaSetDevice(previous_) != cudaSuccess))
      (void)cudaGetLastError();  // a destructor must not throw; a sticky error resurfaces at the next call
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace tilenet::detail
