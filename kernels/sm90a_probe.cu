// Built only for sm_90a (see kernels/CMakeLists.txt). Lets the host ask whether the Hopper-only
// kernels in this library can run on the current device before choosing them.
#include <cuda_runtime_api.h>

namespace tilenet::kernels {

__global__ void sm90a_probe_kernel() {}

bool sm90a_kernels_available() {
  cudaFuncAttributes attr;
  if (cudaFuncGetAttributes(&attr, sm90a_probe_kernel) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace tilenet::kernels
