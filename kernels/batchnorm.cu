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
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/launch.h"
#include "kernels/vector_access.cuh"

namespace tilenet::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// Reduction geometry for a shape: shared by the workspace query and the launchers.
struct ReduceGeom {
  int v, bx, by, groups, splits;
};

ReduceGeom reduce_geom(std::int64_t rows, std::int64_t channels, int v) {
  ReduceGeom g;
  g.v = v;
  const std::int64_t cv = channels / v;
  g.bx = static_cast<int>(std::min<std::int64_t>(cv, 32));
  g.by = kThreads / g.bx;
  g.groups = static_cast<int>(ceil_div<std::int64_t>(cv, g.bx));
  // About 4 blocks per SM in all, each thread folding at least 16 rows; at most 512 splits (the
  // finalize kernels fold 16 each on 32 lanes).
  const std::int64_t want = std::max<std::int64_t>(1, static_cast<std::int64_t>(sm_count()) * 4 / g.groups);
  const std::int64_t most = std::max<std::int64_t>(1, rows / (static_cast<std::int64_t>(g.by) * 16));
  g.splits = static_cast<int>(std::min<std::int64_t>({want, most, 512}));
  return g;
}

// Chan et al.: merge (nb, mb, qb) into (na, ma, qa); q is the sum of squared deviations.
__device__ __forceinline__ void chan_merge(float& na, float& ma, float& qa, float nb, float mb, float qb) {
  if (nb == 0.0f) return;
  const float n = na + nb, d = mb - ma, f = nb / n;
  ma += d * f;
  qa += qb + d * d * na * f;
  na = n;
}

// Rows r0 + u * step (u < kUnroll) of one channel vector, raw; rows past the end are skipped.
template <typename T, int V>
__device__ __forceinline__ void load_rows(Vec<T, V> (&dst)[kUnroll], const T* base, std::int64_t r0, std::int64_t step,
                                          std::int64_t rows, std::int64_t c) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u)
    if (r0 + u * step < rows) dst[u] = load_vec<T, V>(base + (r0 + u * step) * c);
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads) bn_stats_kernel(const T* __restrict__ x, std::int64_t rows, std::int64_t c,
                                                            float* __restrict__ part) {
  extern __shared__ float smem[];  // [by][bx][V] means, [by][bx][V] M2, [by] counts
  const int bx = blockDim.x, by = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t ch = (static_cast<std::int64_t>(blockIdx.x) * bx + tx) * V;
  const bool active = ch < c;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.y) * by;
  float n = 0.0f, mean[V], m2[V];
#pragma unroll
  for (int k = 0; k < V; ++k) mean[k] = m2[k] = 0.0f;
  if (active) {
    // Software-pipelined: the next kUnroll rows are in flight while these are folded.
    Vec<T, V> cur[kUnroll], nxt[kUnroll];
    std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * by + ty;
    load_rows<T, V>(cur, x + ch, r0, step, rows, c);
    for (; r0 < rows; r0 += kUnroll * step) {
      load_rows<T, V>(nxt, x + ch, r0 + kUnroll * step, step, rows, c);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (r0 + u * step >= rows) break;
        n += 1.0f;
        const float inv = __frcp_rn(n);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const float v = to_float(cur[u].v[k]);
          const float d = v - mean[k];
          mean[k] = fmaf(d, inv, mean[k]);
          m2[k] = fmaf(d, v - mean[k], m2[k]);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) cur[u] = nxt[u];
    }
  }
  float* s_mean = smem;
  float* s_m2 = smem + by * bx * V;
  float* s_n = smem + 2 * by * bx * V;
#pragma unroll
  for (int k = 0; k < V; ++k) s_mean[(ty * bx + tx) * V + k] = mean[k], s_m2[(ty * bx + tx) * V + k] = m2[k];
  if (tx == 0) s_n[ty] = n;
  __syncthreads();
  if (ty != 0 || !active) return;
  for (int j = 1; j < by; ++j) {
    const float nj = s_n[j];
    float na = n;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      na = n;
      chan_merge(na, mean[k], m2[k], nj, s_mean[(j * bx + tx) * V + k], s_m2[(j * bx + tx) * V + k]);
    }
    n = na;
  }
  // Partials: [3][splits][c] = counts, means, M2.
  const std::int64_t plane = static_cast<std::int64_t>(gridDim.y) * c, at = blockIdx.y * c + ch;
#pragma unroll
  for (int k = 0; k < V; ++k) part[at + k] = n, part[plane + at + k] = mean[k], part[2 * plane + at + k] = m2[k];
}

// One (32 x 32) block per 32 channels: lanes of y fold splits y, y+32, ... then merge in order.
__global__ void __launch_bounds__(1024) bn_stats_finalize_kernel(const float* __restrict__ part, int splits,
                                                                 std::int64_t c, const float* __restrict__ gamma,
                                                                 const float* __restrict__ beta, float* running_mean,
                                                                 float* running_var, float* save_mean,
                                                                 float* save_invstd, float momentum, float eps) {
  __shared__ float sn[32][33], sm[32][33], sq[32][33];
  (void)gamma, (void)beta;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t ch = static_cast<std::int64_t>(blockIdx.x) * 32 + tx;
  const std::int64_t plane = static_cast<std::int64_t>(splits) * c;
  // Counts in float: exact to 2^24 rows per channel; beyond, n / (n - 1) is off by ~1e-7 relative.
  float n = 0.0f, m = 0.0f, q = 0.0f;
  if (ch < c) {
#pragma unroll 4
    for (int s = ty; s < splits; s += 32) {
      const std::int64_t at = s * c + ch;
      chan_merge(n, m, q, part[at], part[plane + at], part[2 * plane + at]);
    }
  }
  sn[ty][tx] = n, sm[ty][tx] = m, sq[ty][tx] = q;
  __syncthreads();
  if (ty != 0 || ch >= c) return;
  for (int j = 1; j < 32; ++j) chan_merge(n, m, q, sn[j][tx], sm[j][tx], sq[j][tx]);
  const float var = q / n;
  const float unbiased = n > 1.0f ? q / (n - 1.0f) : var;
  save_mean[ch] = m;
  save_invstd[ch] = 1.0f / sqrtf(var + eps);
  running_mean[ch] = momentum * running_mean[ch] + (1.0f - momentum) * m;
  running_var[ch] = momentum * running_var[ch] + (1.0f - momentum) * unbiased;
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads) bn_grad_sums_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                                                const float* __restrict__ mean_in, std::int64_t rows,
                                                                std::int64_t c, float* __restrict__ part) {
  extern __shared__ float smem[];  // [by][bx][V] sum dy, [by][bx][V] sum dy*(x-mean)
  const int bx = blockDim.x, by = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t ch = (static_cast<std::int64_t>(blockIdx.x) * bx + tx) * V;
  const bool active = ch < c;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.y) * by;
  float sg[V], sgx[V], mean[V];
#pragma unroll
  for (int k = 0; k < V; ++k) sg[k] = sgx[k] = 0.0f, mean[k] = active ? mean_in[ch + k] : 0.0f;
  if (active) {
    Vec<T, V> gc[kUnroll], xc[kUnroll], gn[kUnroll], xn[kUnroll];
    std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * by + ty;
    load_rows<T, V>(gc, dy + ch, r0, step, rows, c);
    load_rows<T, V>(xc, x + ch, r0, step, rows, c);
    for (; r0 < rows; r0 += kUnroll * step) {
      load_rows<T, V>(gn, dy + ch, r0 + kUnroll * step, step, rows, c);
      load_rows<T, V>(xn, x + ch, r0 + kUnroll * step, step, rows, c);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (r0 + u * step >= rows) break;
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const float g = to_float(gc[u].v[k]);
          sg[k] += g;
          sgx[k] = fmaf(g, to_float(xc[u].v[k]) - mean[k], sgx[k]);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) gc[u] = gn[u], xc[u] = xn[u];
    }
  }
  float* s_g = smem;
  float* s_gx = smem + by * bx * V;
#pragma unroll
  for (int k = 0; k < V; ++k) s_g[(ty * bx + tx) * V + k] = sg[k], s_gx[(ty * bx + tx) * V + k] = sgx[k];
  __syncthreads();
  if (ty != 0 || !active) return;
  for (int j = 1; j < by; ++j)
#pragma unroll
    for (int k = 0; k < V; ++k) sg[k] += s_g[(j * bx + tx) * V + k], sgx[k] += s_gx[(j * bx + tx) * V + k];
  const std::int64_t plane = static_cast<std::int64_t>(gridDim.y) * c, at = blockIdx.y * c + ch;
#pragma unroll
  for (int k = 0; k < V; ++k) part[at + k] = sg[k], part[plane + at + k] = sgx[k];
}

// Sums the partials in a fixed order (double), writes dgamma/dbeta and the dx coefficients
// coef[0..3) x [c] = A, B, D.
__global__ void __launch_bounds__(1024) bn_grad_finalize_kernel(const float* __restrict__ part, int splits, std::int64_t c,
                                                                std::int64_t rows, const float* __restrict__ gamma,
                                                                const float* __restrict__ invstd, float* dgamma,
                                                                float* dbeta, bool accumulate, float* __restrict__ coef) {
  __shared__ double sg[32][33], sgx[32][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t ch = static_cast<std::int64_t>(blockIdx.x) * 32 + tx;
  const std::int64_t plane = static_cast<std::int64_t>(splits) * c;
  double g = 0.0, gx = 0.0;
  if (ch < c) {
#pragma unroll 4
    for (int s = ty; s < splits; s += 32) g += part[s * c + ch], gx += part[plane + s * c + ch];
  }
  sg[ty][tx] = g, sgx[ty][tx] = gx;
  __syncthreads();
  if (ty != 0 || ch >= c) return;
  for (int j = 1; j < 32; ++j) g += sg[j][tx], gx += sgx[j][tx];
  const float is = invstd[ch];
  const float dg = static_cast<float>(gx) * is;  // sum(dy * xhat)
  const float db = static_cast<float>(g);
  dgamma[ch] = accumulate ? dgamma[ch] + dg : dg;
  dbeta[ch] = accumulate ? dbeta[ch] + db : db;
  const float a = gamma[ch] * is, inv_n = 1.0f / static_cast<float>(rows);
  coef[ch] = a;
  coef[c + ch] = -a * is * dg * inv_n;
  coef[2 * c + ch] = -a * db * inv_n;
}

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

template <typename F>
void with_vec(int v, F&& f) {
  switch (v) {
    case 8: f(std::integral_constant<int, 8>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 1>{}); break;
  }
}

void check_dims(const char* op, std::int64_t rows, std::int64_t c, std::initializer_list<const void*> ptrs) {
  TILENET_CHECK(rows >= 1 && c >= 1, ShapeError, op, ": expected rows >= 1 and channels >= 1, got ", rows, "x", c);
  for (const void* p : ptrs) TILENET_CHECK(p != nullptr, ValueError, op, ": null pointer argument");
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
