// Batch normalisation over the channels (last dimension) of [rows, C]. Training forward is one
// reduction pass and one apply pass over x; backward one reduction pass over (dy, x) and one apply
// pass; the small finalize kernels between them touch only [splits, C] partials.
//   reduce: block (bx, by) = (channel vectors, row lanes), grid (channel groups, row splits S);
//           each thread walks rows r = split*by + ty + k*S*by with V channels (16-byte loads when
//           C allows), the next 4 rows in flight while 4 are folded. Forward keeps a per-thread Welford (count, mean,
//           M2) merged across row lanes and then across splits with Chan's formula; backward keeps
//           plain sums of dy and dy*(x-mean). Fixed merge order: results are deterministic.
//   finalize: a (32 channels x 32 split lanes) block per 32 channels merges the S partials.
//   apply: each thread owns one channel vector (its coefficients in registers) and strides
//          over rows, 4 rows in flight: y = (x - mean) * gamma*invstd + beta, or
//          dx = A*dy + B*(x - mean) + D (A = gamma*invstd, B = -A*invstd*dgamma/rows,
//          D = -A*dbeta/rows). x - mean is formed first so large offsets cancel exactly.
// Measured (H100, 2026-11-23, bench_cnn_ops, 128x56x56x256, before the pipelined reductions):
// training forward at 0.84 (f32) / 0.73 (f16) of the device copy bandwidth counting both passes,
// backward 0.97 / 0.84, inference 0.89 / 0.89. The pipelined reductions are not measured yet.
// Resources (-Xptxas -v, sm_90, CUDA 13.0, 2026-11-23): the backward reduction uses 48-173
// registers (V = 1..8); its f16 V = 2 instance spills 2 bytes (8-byte stack frame) at 48 registers,
// a ptxas choice rather than register pressure, cost not measured; no other instance spills.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/batchnorm_reduce.cuh"
#include "kernels/launch.h"
#include "kernels/vector_access.cuh"

namespace tilenet::kernels {
namespace {

using namespace bn_detail;

// Per-channel coefficients of the apply pass.
struct ApplyParams {
  const float* gamma;
  const float* beta;
  const float* mean;
  const float* invstd;  // training forward
  const float* var;     // inference (invstd = 1 / sqrt(var + eps))
  const float* coef;    // backward: A, B, D planes
  float eps;
};

// kBackward: out = A*g + B*(x - mean) + D; else out = (x - mean) * gamma*invstd + beta.
template <typename T, int V, bool kBackward>
__global__ void __launch_bounds__(kThreads) bn_apply_kernel(const T* __restrict__ x, const T* __restrict__ g,
                                                            T* __restrict__ out, std::int64_t rows, std::int64_t c,
                                                            ApplyParams prm) {
  const std::int64_t cv = c / V;
  const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t lanes = static_cast<std::int64_t>(gridDim.x) * blockDim.x / cv;  // threads per channel vector
  if (tid >= lanes * cv) return;
  const std::int64_t ch = (tid % cv) * V;
  float mean[V], p0[V], p1[V], p2[V];
#pragma unroll
  for (int k = 0; k < V; ++k) {
    mean[k] = prm.mean[ch + k];
    if constexpr (kBackward) {
      p0[k] = prm.coef[ch + k], p1[k] = prm.coef[c + ch + k], p2[k] = prm.coef[2 * c + ch + k];
    } else {
      const float is = prm.invstd ? prm.invstd[ch + k] : 1.0f / sqrtf(prm.var[ch + k] + prm.eps);
      p0[k] = prm.gamma[ch + k] * is, p1[k] = prm.beta[ch + k], p2[k] = 0.0f;
    }
  }
  for (std::int64_t r0 = tid / cv; r0 < rows; r0 += kUnroll * lanes) {
    float v[kUnroll][V], d[kUnroll][V];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (r0 + u * lanes < rows) {
        load_floats<T, V>(x + (r0 + u * lanes) * c + ch, v[u]);
        if constexpr (kBackward) load_floats<T, V>(g + (r0 + u * lanes) * c + ch, d[u]);
      }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (r0 + u * lanes >= rows) break;
      float o[V];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float xm = v[u][k] - mean[k];
        o[k] = kBackward ? fmaf(p0[k], d[u][k], fmaf(p1[k], xm, p2[k])) : fmaf(xm, p0[k], p1[k]);
      }
      store_floats<T, V>(out + (r0 + u * lanes) * c + ch, o);
    }
  }
}

// Channel vector width: the widest that divides C and keeps the pointers aligned, at most 16 bytes
// (wider vectors double the registers of the pipelined reductions for no gain).
template <typename T>
int bn_vec(std::int64_t c, std::initializer_list<const void*> ptrs) {
  const int v = pick_vec(c, sizeof(T), ptrs);
  return v * static_cast<int>(sizeof(T)) > 16 ? 16 / static_cast<int>(sizeof(T)) : v;
}

void check_dims(const char* op, std::int64_t rows, std::int64_t c, std::initializer_list<const void*> ptrs) {
  TILENET_CHECK(rows >= 1 && c >= 1, ShapeError, op, ": expected rows >= 1 and channels >= 1, got ", rows, "x", c);
  check_not_null(op, ptrs);
}

template <typename T, bool kBackward>
void apply(const T* x, const T* g, T* out, std::int64_t rows, std::int64_t c, const ApplyParams& prm, int v,
           cudaStream_t s) {
  with_vec(v, [&](auto vc) {
    constexpr int V = decltype(vc)::value;
    const std::int64_t cv = c / V;
    // Enough threads that every channel vector has at least one, and the device is full.
    const std::int64_t blocks = std::max<std::int64_t>(grid_for(rows * cv, kThreads, kUnroll), ceil_div<std::int64_t>(cv, kThreads));
    bn_apply_kernel<T, V, kBackward><<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(x, g, out, rows, c, prm);
  });
}

// Partials (3 planes of splits x c floats) followed by the backward coefficients (3 x c).
std::size_t workspace_floats(std::int64_t rows, std::int64_t c, int v) {
  const ReduceGeom g = reduce_geom(rows, c, v);
  return static_cast<std::size_t>(3) * g.splits * c + 3 * c;
}

template <typename T>
void train(const T* x, const float* gamma, const float* beta, float* rmean, float* rvar, T* y, float* smean,
           float* sinv, std::int64_t rows, std::int64_t c, float momentum, float eps, void* ws, cudaStream_t s) {
  const char* op = "batchnorm_forward_train";
  check_dims(op, rows, c, {x, gamma, beta, rmean, rvar, y, smean, sinv, ws});
  const int v = bn_vec<T>(c, {x, y});
  const ReduceGeom geo = reduce_geom(rows, c, v);
  float* part = static_cast<float*>(ws);
  with_vec(v, [&](auto vc) {
    constexpr int V = decltype(vc)::value;
    const std::size_t smem = (2 * static_cast<std::size_t>(geo.by) * geo.bx * V + geo.by) * sizeof(float);
    bn_stats_kernel<T, V><<<dim3(geo.groups, geo.splits), dim3(geo.bx, geo.by), smem, s>>>(x, rows, c, part);
  });
  bn_stats_finalize_kernel<<<static_cast<unsigned>(ceil_div<std::int64_t>(c, 32)), dim3(32, 32), 0, s>>>(
      part, geo.splits, c, gamma, beta, rmean, rvar, smean, sinv, momentum, eps);
  ApplyParams prm{gamma, beta, smean, sinv, nullptr, nullptr, eps};
  apply<T, false>(x, static_cast<const T*>(nullptr), y, rows, c, prm, v, s);
  check_launch(op, s);
}

template <typename T>
void infer(const T* x, const float* gamma, const float* beta, const float* mean, const float* var, T* y,
           std::int64_t rows, std::int64_t c, float eps, cudaStream_t s) {
  const char* op = "batchnorm_forward_infer";
  check_dims(op, rows, c, {x, gamma, beta, mean, var, y});
  ApplyParams prm{gamma, beta, mean, nullptr, var, nullptr, eps};
  apply<T, false>(x, static_cast<const T*>(nullptr), y, rows, c, prm, bn_vec<T>(c, {x, y}), s);
  check_launch(op, s);
}

template <typename T>
void backward(const T* dy, const T* x, const float* gamma, const float* smean, const float* sinv, T* dx,
              float* dgamma, float* dbeta, std::int64_t rows, std::int64_t c, bool accumulate, void* ws,
              cudaStream_t s) {
  const char* op = "batchnorm_backward";
  check_dims(op, rows, c, {dy, x, gamma, smean, sinv, dx, dgamma, dbeta, ws});
  const int v = bn_vec<T>(c, {dy, x, dx});
  const ReduceGeom geo = reduce_geom(rows, c, v);
  float* part = static_cast<float*>(ws);
  float* coef = part + static_cast<std::size_t>(3) * geo.splits * c;
  with_vec(v, [&](auto vc) {
    constexpr int V = decltype(vc)::value;
    const std::size_t smem = 2 * static_cast<std::size_t>(geo.by) * geo.bx * V * sizeof(float);
    bn_grad_sums_kernel<T, V><<<dim3(geo.groups, geo.splits), dim3(geo.bx, geo.by), smem, s>>>(dy, x, smean, rows, c,
                                                                                               part);
  });
  bn_grad_finalize_kernel<<<static_cast<unsigned>(ceil_div<std::int64_t>(c, 32)), dim3(32, 32), 0, s>>>(
      part, geo.splits, c, rows, gamma, sinv, dgamma, dbeta, accumulate, coef);
  ApplyParams prm{gamma, nullptr, smean, sinv, nullptr, coef, 0.0f};
  apply<T, true>(x, dy, dx, rows, c, prm, v, s);
  check_launch(op, s);
}

}  // namespace

std::size_t batchnorm_workspace_bytes(std::int64_t rows, std::int64_t channels) {
  if (rows < 1 || channels < 1) return 0;
  // The vector width depends on the pointers' alignment, known only at launch, and the split count
  // depends on the width: size for the largest need over every width that divides C.
  std::size_t most = 0;
  for (int v : {1, 2, 4, 8})
    if (channels % v == 0) most = std::max(most, workspace_floats(rows, channels, v));
  return most * sizeof(float);
}

#define TILENET_BN_CUDA(T)                                                                                         \
  void batchnorm_forward_train(const T* x, const float* gamma, const float* beta, float* running_mean,            \
                               float* running_var, T* y, float* save_mean, float* save_invstd, std::int64_t rows,  \
                               std::int64_t channels, float momentum, float eps, void* ws, cudaStream_t s) {       \
    train(x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd, rows, channels, momentum, eps, ws, \
          s);                                                                                                      \
  }                                                                                                                \
  void batchnorm_forward_infer(const T* x, const float* gamma, const float* beta, const float* mean,               \
                               const float* var, T* y, std::int64_t rows, std::int64_t channels, float eps,        \
                               cudaStream_t s) {                                                                   \
    infer(x, gamma, beta, mean, var, y, rows, channels, eps, s);                                                   \
  }                                                                                                                \
  void batchnorm_backward(const T* dy, const T* x, const float* gamma, const float* save_mean,                     \
                          const float* save_invstd, T* dx, float* dgamma, float* dbeta, std::int64_t rows,         \
                          std::int64_t channels, bool accumulate, void* ws, cudaStream_t s) {                      \
    backward(dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta, rows, channels, accumulate, ws, s);          \
  }

TILENET_BN_CUDA(float)
TILENET_BN_CUDA(half)
#undef TILENET_BN_CUDA

}  // namespace tilenet::kernels
