// The column reductions of batch normalisation (kernels/batchnorm.cu, the only includer): the
// reduction geometry, the training-forward statistics (per-thread Welford, Chan merges) and the
// backward sums of dy and dy*(x - mean), each with its finalize kernel over the split partials.
// See batchnorm.cu's header for the scheme.
#pragma once

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/launch.h"
#include "kernels/vector_access.cuh"

namespace tilenet::kernels::bn_detail {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// Reduction geometry for a shape: shared by the workspace query and the launchers.
struct ReduceGeom {
  int v, bx, by, groups, splits;
};

inline ReduceGeom reduce_geom(std::int64_t rows, std::int64_t channels, int v) {
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
static __global__ void __launch_bounds__(1024) bn_stats_finalize_kernel(const float* __restrict__ part, int splits,
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
static __global__ void __launch_bounds__(1024) bn_grad_finalize_kernel(const float* __restrict__ part, int splits, std::int64_t c,
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

}  // namespace tilenet::kernels::bn_detail
