// Shared pieces of the convolution's CUDA files (included by .cu files only): launch parameters,
// fast division, vector loads, the epilogue's row mapping, and the host-side entry points of the
// implicit GEMMs, im2col and the auxiliary kernels. The operand iterators that compute input
// addresses on the fly live in conv2d_igemm_loaders.cuh.
//
// The three passes as GEMMs C[m, n] = sum_k A[m, k] * B[k, n]:
//   forward     m = (n,p,q)   n = k_out      k = (r,s,c)       A: x gathered     B: w rows
//   bwd data    m = (n,i,j)   n = c          k = (tr,ts,k_out) A: dy gathered    B: packed w^T
//               (one launch per stride phase (ph,pw): h = ph + i*stride_h only meets the filter
//                rows r with (h + pad - r*dil) divisible by the stride, so no zero taps are run)
//   bwd filter  m = k_out     n = (r,s,c)    k = (n,p,q)       A: dy^T           B: x gathered
//               (split-K over the pixels; fp32 partials reduced in a fixed order)
// Small-C forward / backward-filter (c not a multiple of the vector width, e.g. conv1's c = 3):
// k (or n) = (r, j) with j indexing the contiguous run of s*c elements of one input row, padded
// to kSpanPad, loaded element by element.
#pragma once

#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "kernels/conv2d.h"
#include "kernels/cuda_utils.cuh"

namespace tilenet::kernels::conv {

constexpr int kSpanPad = 8;  // padding unit of row spans (small-C) and of k_out (bwd data)

// n / d and n % d for 0 <= n < 2^31 with a multiply-high and a shift (Granlund-Montgomery).
struct FastDivmod {
  unsigned mul = 1;
  int shift = 0;
  int d = 1;
  FastDivmod() = default;
  explicit FastDivmod(int divisor) : d(divisor) {
    int l = 0;
    while ((1ll << l) < divisor) ++l;
    mul = static_cast<unsigned>(((1ull << 32) * ((1ull << l) - divisor)) / divisor + 1);
    shift = l;
  }
  __device__ __forceinline__ int div(int n) const {
    return static_cast<int>((__umulhi(static_cast<unsigned>(n), mul) + static_cast<unsigned>(n)) >> shift);
  }
  __device__ __forceinline__ void divmod(int n, int& q, int& r) const {
    q = div(n);
    r = n - q * d;
  }
};

enum class Pass { fwd, dgrad, wgrad };

// Everything a launch needs; filled on the host (conv2d.cu), passed by value.
struct Params {
  // problem
  int n, h, w, c, k, r, s, p, q;
  int pad_h, pad_w, str_h, str_w, dil_h, dil_w;
  // this launch's GEMM (gemm_k padded where the iterators pad)
  int gemm_m, gemm_n, gemm_k;
  const void* a;  // fwd: x, dgrad: dy, wgrad: dy
  const void* b;  // fwd: w or packed w [k_out][r*scp], dgrad: packed w^T of the phase, wgrad: x
  int ldb;        // fwd/dgrad: row length of b
  void* out;      // fwd: y, dgrad: dx, wgrad: fp32 partials [split][gemm_m][gemm_n]
  const float* bias;
  int relu;
  int pair_store;  // the output takes two-element (4-byte half2 / 8-byte float2) stores
  int sc, scp;    // small-C: s*c and its padded length
  // dgrad phase
  int ph, pw, hp, wp;   // phase offsets and the phase grid
  int ns;               // taps along s in this phase (tr runs over nr, implied by gemm_k)
  int off_r, off_s;     // p = i + off_r - tr*dpr,  q = j + off_s - ts*dps
  int dpr, dps;
  int kpad;             // k_out padded to kSpanPad
  int step_r, step_s;   // stride / gcd(stride, dilation): period of the taps that meet one input row
  // wgrad split-K
  int k_tiles_per_split;
  long long split_stride;  // elements between splits' partials
  FastDivmod div_pq, div_q;    // fwd/wgrad pixel index -> (n, p, q)
  FastDivmod div_hwp, div_wp;  // dgrad phase pixel -> (n, i, j)
  FastDivmod div_c;            // small-C: j -> (s, c)
};

// 16 bytes of T: 8 halves or 4 floats.
template <typename T>
struct alignas(16) Vec {
  static constexpr int kN = 16 / sizeof(T);
  T v[kN];
};

template <typename T>
__device__ __forceinline__ Vec<T> zero_vec() {
  Vec<T> z;
  *reinterpret_cast<uint4*>(z.v) = make_uint4(0, 0, 0, 0);
  return z;
}

template <typename T>
__device__ __forceinline__ Vec<T> ldg_vec(const T* p) {
  Vec<T> r;
  *reinterpret_cast<uint4*>(r.v) = __ldg(reinterpret_cast<const uint4*>(p));
  return r;
}

__device__ __forceinline__ float ldg_scalar(const float* p) { return __ldg(p); }
__device__ __forceinline__ half ldg_scalar(const half* p) {
  half h;
  h.bits = __ldg(reinterpret_cast<const unsigned short*>(p));
  return h;
}
// One 16-byte chunk at ptr, zero when !ok. Vector loaders read it at once; the others element by
// element, those at first + e >= lim (past the end of a row) reading as zero.
template <bool kVector, typename T>
__device__ __forceinline__ Vec<T> load_chunk(bool ok, const T* ptr, int first, int lim) {
  Vec<T> out = zero_vec<T>();
  if (!ok) return out;
  if constexpr (kVector) {
    return ldg_vec(ptr);
  } else {
#pragma unroll
    for (int e = 0; e < Vec<T>::kN; ++e)
      if (first + e < lim) out.v[e] = ldg_scalar(ptr + e);
    return out;
  }
}

template <typename T>
__device__ __forceinline__ T zero_scalar() {
  return T{};
}

// Elements j0 .. j0+V-1 of the row span of x at image `img`, input row h, starting column w0
// (the span is s*c long: s taps of c channels; dilation along w spreads the taps). s0, c0 = the
// tap and channel of j0. Out-of-range positions and j >= sc read zero.
template <typename T>
__device__ __forceinline__ Vec<T> load_row_span(const T* img, const Params& p, int h, int w0, int j0, int s0,
                                                int c0) {
  Vec<T> out = zero_vec<T>();
  if (static_cast<unsigned>(h) >= static_cast<unsigned>(p.h)) return out;
  const T* row = img + static_cast<long long>(h) * p.w * p.c;
  int s = s0, c = c0;
#pragma unroll
  for (int e = 0; e < Vec<T>::kN; ++e) {
    const int wi = w0 + s * p.dil_w;
    if (j0 + e < p.sc && static_cast<unsigned>(wi) < static_cast<unsigned>(p.w)) out.v[e] = ldg_scalar(row + wi * p.c + c);
    if (++c == p.c) {
      c = 0;
      ++s;
    }
  }
  return out;
}

// Moves a (outer, mid, inner) filter-tap position `by` steps along inner: inner wraps at inner_n
// into mid, mid at mid_n into outer (e.g. (r, s, c) or (tr, ts, kk)).
__device__ __forceinline__ void advance_tap(int& inner, int by, int inner_n, int& mid, int mid_n, int& outer) {
  inner += by;
  while (inner >= inner_n) {
    inner -= inner_n;
    if (++mid == mid_n) {
      mid = 0;
      ++outer;
    }
  }
}

// First filter tap t (< taps) with (pos_plus_pad - t*dil) divisible by the stride (taps if none);
// the others follow every `step` taps.
__device__ __forceinline__ int first_tap(int pos_plus_pad, int dil, int stride, int step, int taps) {
  for (int t = 0; t < step && t < taps; ++t)
    if ((pos_plus_pad - t * dil) % stride == 0) return t;
  return taps;
}

// Offset of output row m of this launch's C (elements of the output array).
template <Pass kPass>
__device__ __forceinline__ long long out_row_offset(const Params& p, int m, int split) {
  if (kPass == Pass::fwd) return static_cast<long long>(m) * p.k;
  if (kPass == Pass::wgrad) return split * p.split_stride + static_cast<long long>(m) * p.gemm_n;
  int n, ij, i, j;
  p.div_hwp.divmod(m, n, ij);
  p.div_wp.divmod(ij, i, j);
  return ((static_cast<long long>(n) * p.h + p.ph + i * p.str_h) * p.w + p.pw + j * p.str_w) * p.c;
}

// Output columns n and n+1 (the second only when n + 1 < gemm_n) of an fp16 implicit GEMM's row
// at element offset `off`: backward-filter's fp32 split-K partials as they are; else the
// forward's bias and ReLU, then fp16 (backward-data: plain fp16). Pair stores where p.pair_store.
template <Pass kPass>
__device__ __forceinline__ void store_f16_pair(const Params& p, long long off, int n, float v0, float v1) {
  const bool two = n + 1 < p.gemm_n;
  if constexpr (kPass == Pass::wgrad) {
    float* o = static_cast<float*>(p.out) + off + n;
    if (two && p.pair_store) {
      *reinterpret_cast<float2*>(o) = make_float2(v0, v1);
    } else {
      o[0] = v0;
      if (two) o[1] = v1;
    }
  } else {
    if (kPass == Pass::fwd) {
      if (p.bias) {
        v0 += p.bias[n];
        if (two) v1 += p.bias[n + 1];
      }
      if (p.relu) {
        v0 = relu_keep_nan(v0);
        v1 = relu_keep_nan(v1);
      }
    }
    __half* o = reinterpret_cast<__half*>(static_cast<half*>(p.out) + off + n);
    if (two && p.pair_store) {
      *reinterpret_cast<__half2*>(o) = __floats2half2_rn(v0, v1);
    } else {
      o[0] = __float2half_rn(v0);
      if (two) o[1] = __float2half_rn(v1);
    }
  }
}

}  // namespace tilenet::kernels::conv

namespace tilenet::kernels::conv {

// Tile configurations of the implicit-GEMM kernels (the chooser in conv2d.cu picks one).
// large, medium, small, narrow (gemm_n <= 16), large on 8 warps (fp16), Hopper wgmma (fp16, sm_90a)
enum class Tile { L, M, S, N, W, H };
struct TileShape {
  int bm, bn, bk;
};
// Per precision (namespaces f16, f32): the tile's extents; whether the tile is instantiated for a
// pass and loader mode (the launchers fall back to S when not); resident blocks per SM.
namespace f16 {
TileShape tile_shape(Tile tile);
bool tile_available(Pass pass, Tile tile, bool vec_a, bool vec_b);
int blocks_per_sm(Pass pass, Tile tile, bool vec_a, bool vec_b);
}  // namespace f16
namespace f32 {
TileShape tile_shape(Tile tile);
bool tile_available(Pass pass, Tile tile, bool vec_a, bool vec_b);
int blocks_per_sm(Pass pass, Tile tile, bool vec_a, bool vec_b);
}  // namespace f32

// Launch one implicit GEMM: grid (ceil(gemm_m/bm), ceil(gemm_n/bn), splits). fwd: vec_a = c is a
// multiple of the vector width (else row spans); dgrad: vec_a = k_out is; wgrad: vec_a = k_out,
// vec_b = c. Returns the tile that ran.
Tile launch_igemm_f16(Pass pass, Tile tile, bool vec_a, bool vec_b, const Params& p, int splits, cudaStream_t stream);
Tile launch_igemm_f32(Pass pass, Tile tile, bool vec_a, bool vec_b, const Params& p, int splits, cudaStream_t stream);

// The Hopper tile (kernels/conv2d_implicit_gemm_wgmma_sm90a.cu, built only with the sm_90a
// kernels): fp16, the 16-byte loaders of both operands only, a compute capability 9.0 device.
// f16::tile_available / blocks_per_sm / launch_igemm_f16 route Tile::H here when it applies.
namespace wg {
bool usable(Pass pass, bool vec_a, bool vec_b);  // this build, this device and these loader modes
TileShape tile_shape();
int blocks_per_sm(Pass pass);
void launch(Pass pass, const Params& p, int splits, cudaStream_t stream);
}  // namespace wg

}  // namespace tilenet::kernels::conv

namespace tilenet::kernels::conv {

// The im2col + GEMM algorithm (kernels/conv2d_im2col.cu). `p` carries the problem fields and the
// pixel divisors (div_pq, div_q).
std::size_t im2col_workspace(const Conv2dShape& shape, Pass pass, bool half_inputs, bool half_dw);
template <typename T>
void im2col_forward(const Params& p, const Conv2dShape& shape, const T* x, const T* w, const float* bias, T* y,
                    Activation act, void* ws, std::size_t ws_bytes, cudaStream_t stream);
template <typename T>
void im2col_backward_data(const Params& p, const Conv2dShape& shape, const T* dy, const T* w, T* dx, void* ws,
                          std::size_t ws_bytes, cudaStream_t stream);
template <typename T, typename TW>
void im2col_backward_filter(const Params& p, const Conv2dShape& shape, const T* x, const T* dy, TW* dw,
                            bool accumulate, void* ws, std::size_t ws_bytes, cudaStream_t stream);

}  // namespace tilenet::kernels::conv

namespace tilenet::kernels::conv {

// The small kernels around the implicit GEMMs (kernels/conv2d_aux.cu).
// w [k][r][s][c] -> per stride phase (ph, pw), in row-major phase order: [c][(tr*ns + ts)*kpad + kk].
template <typename T>
void pack_dgrad_filter(const T* w, T* wt, const Params& p, cudaStream_t stream);
// Small-c forward: w [k][r][s*c] -> [k][r][scp], zero tails.
template <typename T>
void pack_span_filter(const T* w, T* wp, const Params& p, cudaStream_t stream);
// wt [ldcol][k]: wt[j][kk] = w[kk][j] for j < rsc, zero rows up to ldcol.
template <typename T>
void transpose_filter(const T* w, T* wt, int k, int rsc, int ldcol, cudaStream_t stream);
// dx for images [n0, n0 + imgs) from dcol [imgs*p*q][ldcol] (c <= 4), fp32 sums, a thread a pixel.
template <typename T>
void col2im_tiny_c(const T* dcol, T* dx, const Params& p, int n0, int imgs, int ldcol, cudaStream_t stream);
// dw (+)= sum over splits of part[split][k_out][gemm_n] (span: row-span columns), in split order.
template <typename TW>
void reduce_wgrad(const float* part, TW* dw, const Params& p, int splits, bool span, bool accumulate,
                  cudaStream_t stream);

}  // namespace tilenet::kernels::conv
