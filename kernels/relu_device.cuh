// The device ReLU every kernel family shares (elementwise, GEMM and convolution epilogues).
#pragma once

namespace tilenet::kernels {

// ReLU as PyTorch and the CPU references compute it: max(v, 0) with NaN passed through (a diverging
// model must not look healthy). One FMNMX.NAN on sm_80+, where fmaxf would turn NaN into 0.
__device__ __forceinline__ float relu_keep_nan(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float r;
  asm("max.NaN.f32 %0, %1, 0f00000000;" : "=f"(r) : "f"(v));
  return r;
#else
  return v < 0.0f ? 0.0f : v;
#endif
}

}  // namespace tilenet::kernels
