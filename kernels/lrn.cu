// Local response normalisation across channels. A thread per element (grid-stride): the window
// sums re-read at most `size` neighbours along C, contiguous in NHWC, so they come from L1; the
// backward recomputes each neighbour's s from x (size^2 cached loads per element) rather than
// storing it. Deterministic; float arithmetic. Not tuned: LRN is optional in tilenet (the
// original AlexNet), and a pass over a few MB per layer. Not yet run on a GPU.
#include <cuda_fp16.h>

#include "kernels/launch.h"
#include "kernels/lrn.h"
#include "kernels/vector_access.cuh"

namespace tilenet::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ __forceinline__ float scale_at(const T* xp, int j, int c, int lo, int hi, float k, float a) {
  float sum = 0.0f;
  for (int i = max(0, j - lo); i <= min(c - 1, j + hi); ++i) {
    const float v = to_float(xp[i]);
    sum = fmaf(v, v, sum);
  }
  return fmaf(a, sum, k);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) lrn_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                                               std::int64_t n, int c, LrnParams prm) {
  const int lo = prm.size / 2, hi = (prm.size - 1) / 2;
  const float a = prm.alpha / prm.size;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(i % c);
    const T* xp = x + (i - j);
    const float s = scale_at(xp, j, c, lo, hi, prm.k, a);
    y[i] = from_float<T>(to_float(x[i]) * powf(s, -prm.beta));
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) lrn_backward_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                                                T* __restrict__ dx, std::int64_t n, int c, LrnParams prm) {
  const int lo = prm.size / 2, hi = (prm.size - 1) / 2;
  const float a = prm.alpha / prm.size, f = 2.0f * prm.alpha * prm.beta / prm.size;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(i % c);
    const T* xp = x + (i - j);
    const T* gp = dy + (i - j);
    float sum = 0.0f;  // over the channels whose window holds j
    for (int q = max(0, j - hi); q <= min(c - 1, j + lo); ++q) {
      const float sq = scale_at(xp, q, c, lo, hi, prm.k, a);
      sum += to_float(gp[q]) * to_float(xp[q]) * powf(sq, -prm.beta - 1.0f);
    }
    const float s = scale_at(xp, j, c, lo, hi, prm.k, a);
    dx[i] = from_float<T>(to_float(dy[i]) * powf(s, -prm.beta) - f * to_float(x[i]) * sum);
  }
}

void check(const char* op, std::int64_t pixels, std::int64_t c, const LrnParams& prm,
           std::initializer_list<const void*> ptrs) {
  check_lrn_params(prm, op);
  TILENET_CHECK(pixels >= 0 && c >= 1 && c <= INT32_MAX, ShapeError, op, ": expected pixels >= 0 and 1 <= C < 2^31, got ",
                pixels, "x", c);
  for (const void* p : ptrs) TILENET_CHECK(p != nullptr || pixels == 0, ValueError, op, ": null pointer argument");
}

template <typename T>
void forward(const T* x, T* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm, cudaStream_t s) {
  check("lrn_forward", pixels, c, prm, {x, y});
  if (pixels == 0) return;
  const std::int64_t n = pixels * c;
  lrn_forward_kernel<T><<<grid_for(n, kThreads), kThreads, 0, s>>>(x, y, n, static_cast<int>(c), prm);
  check_launch("lrn_forward", s);
}

template <typename T>
void backward(const T* x, const T* dy, T* dx, std::int64_t pixels, std::int64_t c, const LrnParams& prm,
              cudaStream_t s) {
  check("lrn_backward", pixels, c, prm, {x, dy, dx});
  if (pixels == 0) return;
  const std::int64_t n = pixels * c;
  lrn_backward_kernel<T><<<grid_for(n, kThreads), kThreads, 0, s>>>(x, dy, dx, n, static_cast<int>(c), prm);
  check_launch("lrn_backward", s);
}

}  // namespace

void lrn_forward(const float* x, float* y, std::int64_t p, std::int64_t c, const LrnParams& prm, cudaStream_t s) {
  forward(x, y, p, c, prm, s);
}
void lrn_forward(const half* x, half* y, std::int64_t p, std::int64_t c, const LrnParams& prm, cudaStream_t s) {
  forward(x, y, p, c, prm, s);
}
void lrn_backward(const float* x, const float* dy, float* dx, std::int64_t p, std::int64_t c,
                  const LrnParams& prm, cudaStream_t s) {
  backward(x, dy, dx, p, c, prm, s);
}
void lrn_backward(const half* x, const half* dy, half* dx, std::int64_t p, std::int64_t c,
                  const LrnParams& prm, cudaStream_t s) {
  backward(x, dy, dx, p, c, prm, s);
}

}  // namespace tilenet::kernels
