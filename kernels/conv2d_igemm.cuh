// Shared pieces of the implicit-GEMM convolution kernels (included by .cu files only): launch
// parameters, fast division, the operand iterators that compute input addresses on the fly, and
// the epilogue's row mapping. The f16 (mma.sync) and f32 (SIMT) kernels use the same iterators.
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

// First filter tap t (< taps) with (pos_plus_pad - t*dil) divisible by the stride (taps if none);
// the others follow every `step` taps.
__device__ __forceinline__ int first_tap(int pos_plus_pad, int dil, int stride, int step, int taps) {
  for (int t = 0; t < step && t < taps; ++t)
    if ((pos_plus_pad - t * dil) % stride == 0) return t;
  return taps;
}

// ---------------------------------------------------------------------------------------------
// Operand iterators. Each thread owns ITERS chunks of V = 16/sizeof(T) consecutive elements along
// the tile's contiguous dimension, at fixed positions in the tile; iterator state follows the
// k-tiles. src() gives the 16-byte source of a vector chunk (cp.async or ldg) or false for zero; load()
// reads the chunk into registers (vector or element by element).
//
// K-major tiles (fwd A/B, dgrad A/B): ROWS x BK, chunk (row = idx / CPR, kc = (idx % CPR) * V).
// MN-major tiles (wgrad A/B): BK x COLS, chunk (krow = idx / CPC, col = (idx % CPC) * V).
// ---------------------------------------------------------------------------------------------

template <typename T, int ROWS, int BK, int THREADS>
struct KMajorLayout {
  static constexpr int V = Vec<T>::kN;
  static constexpr int CPR = BK / V;  // chunks per row
  static constexpr int CHUNKS = ROWS * CPR;
  static constexpr int ITERS = (CHUNKS + THREADS - 1) / THREADS;
  static_assert(BK % V == 0, "BK must hold whole vectors");
  static_assert(THREADS % CPR == 0, "a thread's k-chunk must not change between its iterations");
  __device__ static int row(int tid, int i) { return (tid + i * THREADS) / CPR; }
  __device__ static int kc(int tid) { return (tid % CPR) * V; }
  __device__ static bool live(int tid, int i) { return CHUNKS % THREADS == 0 || tid + i * THREADS < CHUNKS; }
};

template <typename T, int COLS, int BK, int THREADS>
struct MNMajorLayout {
  // Each thread stays in one k-row (one pixel) and owns ITERS chunks of it, interleaved with the
  // row's other threads so that a warp's loads are contiguous: the pixel's address arithmetic is
  // done once per k-tile, not once per chunk.
  static constexpr int V = Vec<T>::kN;
  static constexpr int CPC = COLS / V;      // chunks per k-row
  static constexpr int TPR = THREADS / BK;  // threads per k-row
  static constexpr int ITERS = CPC / TPR;
  static constexpr int CHUNKS = BK * CPC;
  static_assert(COLS % V == 0, "tile width must hold whole vectors");
  static_assert(THREADS % BK == 0 && CPC % TPR == 0 && ITERS >= 1, "threads must tile the k-rows evenly");
  __device__ static int krow(int tid, int) { return tid / TPR; }
  __device__ static int col(int tid, int i) { return ((tid % TPR) + i * TPR) * V; }
  __device__ static bool live(int, int) { return true; }
};
// Forward A: x gathered. kVector: c % V == 0, k = (r, s, c). Else row spans: k = (r, j).
// Vector mode keeps, per row, a pointer to x[n, h0, w0, 0] (h0, w0: the window's corner, maybe in
// the padding) and, per k-tile, the tap's offset from it, so a chunk costs two range checks and
// one add.
template <typename T, int BM, int BK, int THREADS, bool kVector>
struct FwdA {
  using L = KMajorLayout<T, BM, BK, THREADS>;
  static constexpr bool kIsVector = kVector;
  const T* base[L::ITERS];  // vector: &x[n, h0, w0, 0]; span: &x[n, 0, 0, 0]
  int h0[L::ITERS], w0[L::ITERS];
  int r, s, c;       // vector: tap and channel of this thread's chunk; span: r and j (in c)
  int rdh, sdw, off;  // vector: r*dil_h, s*dil_w, their offset from the corner (+ c)
  int k;             // this thread's chunk position along gemm_k

  __device__ void init(const Params& p, int m_block, int tid) {
    const T* x = static_cast<const T*>(p.a);
#pragma unroll
    for (int i = 0; i < L::ITERS; ++i) {
      const int m = m_block + L::row(tid, i);
      base[i] = x;
      h0[i] = INT_MIN / 2;  // never in range: rows past gemm_m read zero
      w0[i] = 0;
      if (m < p.gemm_m && L::live(tid, i)) {
        int n, pq, pp, qq;
        p.div_pq.divmod(m, n, pq);
        p.div_q.divmod(pq, pp, qq);
        h0[i] = pp * p.str_h - p.pad_h;
        w0[i] = qq * p.str_w - p.pad_w;
        base[i] = x + static_cast<long long>(n) * p.h * p.w * p.c;
        if (kVector) base[i] += (static_cast<long long>(h0[i]) * p.w + w0[i]) * p.c;
      }
    }
    k = L::kc(tid);
    if constexpr (kVector) {
      c = k % p.c;
      const int rs = k / p.c;
      r = rs / p.s;
      s = rs % p.s;
      tap_offsets(p);
    } else {
      r = k / p.scp;
      c = k % p.scp;  // j
      s = 0;
    }
  }
  __device__ void tap_offsets(const Params& p) {
    rdh = r * p.dil_h;
    sdw = s * p.dil_w;
    off = (rdh * p.w + sdw) * p.c + c;
  }
  __device__ void advance(const Params& p) {
    k += BK;
    if constexpr (kVector) {
      c += BK;
      while (c >= p.c) {
        c -= p.c;
        if (++s == p.s) {
          s = 0;
          ++r;
        }
      }
      tap_offsets(p);
    } else {
      c += BK;
      while (c >= p.scp) {
        c -= p.scp;
        ++r;
      }
    }
  }
  // Vector chunk i: its 16-byte source, or false when it reads zero.
  __device__ bool src(const Params& p, int i, const T*& ptr) const {
    ptr = base[i] + off;
    return k < p.gemm_k && static_cast<unsigned>(h0[i] + rdh) < static_cast<unsigned>(p.h) &&
           static_cast<unsigned>(w0[i] + sdw) < static_cast<unsigned>(p.w);
  }
  __device__ Vec<T> load(const Params& p, int i) const {
    if constexpr (kVector) {
      const T* ptr;
      return src(p, i, ptr) ? ldg_vec(ptr) : zero_vec<T>();
    } else {
      if (k >= p.gemm_k) return zero_vec<T>();
      const int s0 = p.div_c.div(c);
      return load_row_span(base[i], p, h0[i] + r * p.dil_h, w0[i], c, s0, c - s0 * p.c);
    }
  }
};

// Backward-data A: dy gathered over the taps of one stride phase, k = (tr, ts, kk) with kk < kpad.
// kVector: k_out % V == 0. Like FwdA, rows keep &dy[n, pb, qb, 0] and k-tiles the tap's offset.
template <typename T, int BM, int BK, int THREADS, bool kVector>
struct DgradA {
  using L = KMajorLayout<T, BM, BK, THREADS>;
  static constexpr bool kIsVector = kVector;
  const T* base[L::ITERS];
  int pb[L::ITERS], qb[L::ITERS];
  int tr, ts, kk, k;
  int dp, dq, off;  // tr*dpr, ts*dps, and (-(dp*q) - dq)*k_out + kk

  __device__ void init(const Params& p, int m_block, int tid) {
    const T* dy = static_cast<const T*>(p.a);
#pragma unroll
    for (int i = 0; i < L::ITERS; ++i) {
      const int m = m_block + L::row(tid, i);
      base[i] = dy;
      pb[i] = INT_MIN / 2;
      qb[i] = 0;
      if (m < p.gemm_m && L::live(tid, i)) {
        int n, ij, ii, jj;
        p.div_hwp.divmod(m, n, ij);
        p.div_wp.divmod(ij, ii, jj);
        pb[i] = ii + p.off_r;
        qb[i] = jj + p.off_s;
        base[i] = dy + static_cast<long long>(n) * p.p * p.q * p.k + (static_cast<long long>(pb[i]) * p.q + qb[i]) * p.k;
      }
    }
    k = L::kc(tid);
    kk = k % p.kpad;
    const int t = k / p.kpad;
    tr = t / p.ns;
    ts = t % p.ns;
    tap_offsets(p);
  }
  __device__ void tap_offsets(const Params& p) {
    dp = tr * p.dpr;
    dq = ts * p.dps;
    off = -(dp * p.q + dq) * p.k + kk;
  }
  __device__ void advance(const Params& p) {
    k += BK;
    kk += BK;
    while (kk >= p.kpad) {
      kk -= p.kpad;
      if (++ts == p.ns) {
        ts = 0;
        ++tr;
      }
    }
    tap_offsets(p);
  }
  __device__ bool src(const Params& p, int i, const T*& ptr) const {
    ptr = base[i] + off;
    return k < p.gemm_k && kk < p.k && static_cast<unsigned>(pb[i] - dp) < static_cast<unsigned>(p.p) &&
           static_cast<unsigned>(qb[i] - dq) < static_cast<unsigned>(p.q);
  }
  __device__ Vec<T> load(const Params& p, int i) const {
    Vec<T> out = zero_vec<T>();
    const T* ptr;
    if (!src(p, i, ptr)) return out;
    if constexpr (kVector) {
      return ldg_vec(ptr);
    } else {
#pragma unroll
      for (int e = 0; e < Vec<T>::kN; ++e)
        if (kk + e < p.k) out.v[e] = ldg_scalar(ptr + e);
      return out;
    }
  }
};

// Dense k-major B: rows n of length ldb (fwd: w or packed w; dgrad: packed w^T). Always vector
// (the host packs whenever the rows would not be 16-byte aligned).
template <typename T, int BN, int BK, int THREADS>
struct DenseB {
  using L = KMajorLayout<T, BN, BK, THREADS>;
  static constexpr bool kIsVector = true;
  const T* rowp[L::ITERS];
  bool rowok[L::ITERS];
  int k;
  __device__ void init(const Params& p, int n_block, int tid) {
    const T* b = static_cast<const T*>(p.b);
#pragma unroll
    for (int i = 0; i < L::ITERS; ++i) {
      const int n = n_block + L::row(tid, i);
      rowok[i] = n < p.gemm_n && L::live(tid, i);
      rowp[i] = b + static_cast<long long>(rowok[i] ? n : 0) * p.ldb;
    }
    k = L::kc(tid);
  }
  __device__ void advance(const Params&) { k += BK; }
  __device__ bool src(const Params& p, int i, const T*& ptr) const {
    ptr = rowp[i] + k;
    return rowok[i] && k < p.gemm_k;
  }
  __device__ Vec<T> load(const Params& p, int i) const {
    const T* ptr;
    return src(p, i, ptr) ? ldg_vec(ptr) : zero_vec<T>();
  }
};

// Backward-filter A = dy^T: tile [BK pixels][BM k_out], dy rows are pixels.
template <typename T, int BM, int BK, int THREADS, bool kVector>
struct WgradA {
  using L = MNMajorLayout<T, BM, BK, THREADS>;
  static constexpr bool kIsVector = kVector;
  int col[L::ITERS];  // k_out of each chunk
  int pix;
  const T* rowp;
  __device__ void init(const Params& p, int m_block, int tid, int k_begin) {
#pragma unroll
    for (int i = 0; i < L::ITERS; ++i) col[i] = m_block + L::col(tid, i);
    pix = k_begin + L::krow(tid, 0);
    rowp = static_cast<const T*>(p.a) + static_cast<long long>(pix) * p.k;
  }
  __device__ void advance(const Params& p) {
    pix += BK;
    rowp += static_cast<long long>(BK) * p.k;
  }
  __device__ bool src(const Params& p, int i, const T*& ptr) const {
    ptr = rowp + col[i];
    return pix < p.gemm_k && col[i] < p.gemm_m;
  }
  __device__ Vec<T> load(const Params& p, int i) const {
    Vec<T> out = zero_vec<T>();
    const T* ptr;
    if (!src(p, i, ptr)) return out;
    if constexpr (kVector) {
      return ldg_vec(ptr);
    } else {
#pragma unroll
      for (int e = 0; e < Vec<T>::kN; ++e)
        if (col[i] + e < p.gemm_m) out.v[e] = ldg_scalar(ptr + e);
      return out;
    }
  }
};

// Backward-filter B = x gathered: tile [BK pixels][BN of (r,s,c)] (kVector: c % V == 0) or
// [BK pixels][BN of (r, j)] row spans. Per chunk (fixed column): the filter tap's offsets; per
// k-tile (the thread's pixel): image, p*stride_h, q*stride_w.
template <typename T, int BN, int BK, int THREADS, bool kVector>
struct WgradB {
  using L = MNMajorLayout<T, BN, BK, THREADS>;
  static constexpr bool kIsVector = kVector;
  int rr[L::ITERS], ss[L::ITERS], cc[L::ITERS];  // r*dil_h - pad_h, s*dil_w - pad_w, c (span: j)
  int s0[L::ITERS], c0[L::ITERS];                // span: tap and channel of j
  bool colok[L::ITERS];
  int pix;
  bool pixok;
  const T* img;
  int hb, wb;  // p*stride_h, q*stride_w of the pixel
  __device__ void locate(const Params& p) {
    pixok = pix < p.gemm_k;
    if (pixok) {
      int n, pq, pp, qq;
      p.div_pq.divmod(pix, n, pq);
      p.div_q.divmod(pq, pp, qq);
      img = static_cast<const T*>(p.b) + static_cast<long long>(n) * p.h * p.w * p.c;
      hb = pp * p.str_h;
      wb = qq * p.str_w;
    }
  }
  __device__ void init(const Params& p, int n_block, int tid, int k_begin) {
#pragma unroll
    for (int i = 0; i < L::ITERS; ++i) {
      const int col = n_block + L::col(tid, i);
      colok[i] = col < p.gemm_n;
      int r = 0, s = 0;
      if constexpr (kVector) {
        cc[i] = col % p.c;
        const int rs = col / p.c;
        r = rs / p.s;
        s = rs % p.s;
      } else {
        r = col / p.scp;
        cc[i] = col % p.scp;
        s0[i] = cc[i] / p.c;
        c0[i] = cc[i] % p.c;
      }
      rr[i] = r * p.dil_h - p.pad_h;
      ss[i] = s * p.dil_w - p.pad_w;
    }
    pix = k_begin + L::krow(tid, 0);
    img = static_cast<const T*>(p.b);
    hb = wb = 0;
    locate(p);
  }
  __device__ void advance(const Params& p) {
    pix += BK;
    locate(p);
  }
  __device__ bool src(const Params& p, int i, const T*& ptr) const {
    const int h = hb + rr[i], w = wb + ss[i];
    ptr = img + (static_cast<long long>(h) * p.w + w) * p.c + cc[i];
    return pixok && colok[i] && static_cast<unsigned>(h) < static_cast<unsigned>(p.h) &&
           static_cast<unsigned>(w) < static_cast<unsigned>(p.w);
  }
  __device__ Vec<T> load(const Params& p, int i) const {
    if constexpr (kVector) {
      const T* ptr;
      return src(p, i, ptr) ? ldg_vec(ptr) : zero_vec<T>();
    } else {
      if (!pixok || !colok[i]) return zero_vec<T>();
      return load_row_span(img, p, hb + rr[i], wb - p.pad_w, cc[i], s0[i], c0[i]);
    }
  }
};

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

}  // namespace tilenet::kernels::conv

namespace tilenet::kernels::conv {

// Tile configurations of the implicit-GEMM kernels (the chooser in conv2d.cu picks one).
enum class Tile { L, M, S, N, W };  // large, medium, small, narrow (gemm_n <= 16), large on 8 warps (fp16)
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
