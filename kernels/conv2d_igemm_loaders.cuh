// The operand iterators of the implicit-GEMM convolution kernels (included by the two
// implicit-GEMM .cu files and conv2d_igemm_dispatch.cuh only): one per pass and operand, each
// computing its input addresses on the fly from kernels/conv2d_igemm.cuh's Params. The f16
// (mma.sync) and f32 (SIMT) kernels share them.
#pragma once

#include "kernels/conv2d_igemm.cuh"
#include "kernels/mma_sync_ops.cuh"

namespace tilenet::kernels::conv {

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
      advance_tap(c, BK, p.c, s, p.s, r);
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
    advance_tap(kk, BK, p.kpad, ts, p.ns, tr);
    tap_offsets(p);
  }
  __device__ bool src(const Params& p, int i, const T*& ptr) const {
    ptr = base[i] + off;
    return k < p.gemm_k && kk < p.k && static_cast<unsigned>(pb[i] - dp) < static_cast<unsigned>(p.p) &&
           static_cast<unsigned>(qb[i] - dq) < static_cast<unsigned>(p.q);
  }
  __device__ Vec<T> load(const Params& p, int i) const {
    const T* ptr;
    const bool ok = src(p, i, ptr);
    return load_chunk<kVector>(ok, ptr, kk, p.k);
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
    const T* ptr;
    const bool ok = src(p, i, ptr);
    return load_chunk<kVector>(ok, ptr, col[i], p.gemm_m);
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

// The k-tiles this block runs (backward-filter: its split's share, split = blockIdx.z), with both
// iterators placed at the first of them. Returns their count.
template <Pass kPass, int BK, class AIt, class BIt>
__device__ __forceinline__ int start_k_tiles(const Params& p, int m_block, int n_block, int tid, AIt& ait, BIt& bit) {
  const int total_kt = (p.gemm_k + BK - 1) / BK;
  int kt_begin = 0, kt_end = total_kt;
  if constexpr (kPass == Pass::wgrad) {
    kt_begin = static_cast<int>(blockIdx.z) * p.k_tiles_per_split;
    kt_end = min(total_kt, kt_begin + p.k_tiles_per_split);
    ait.init(p, m_block, tid, kt_begin * BK);
    bit.init(p, n_block, tid, kt_begin * BK);
  } else {
    ait.init(p, m_block, tid);
    bit.init(p, n_block, tid);
  }
  return max(0, kt_end - kt_begin);
}

// Starts the 16-byte cp.async copies of a vector iterator's chunks of its current k-tile into the
// tile at dst, chunk i of this thread at element offset off(tid, i); chunks the iterator reads as
// zero are zero-filled (nothing read). kL1: through L1 (operands neighbouring windows re-read).
template <bool kL1, class It, typename T, class Off>
__device__ __forceinline__ void cp_async_tile(const It& it, const Params& p, const void* base, T* dst, int tid,
                                              Off off) {
  using L = typename It::L;
#pragma unroll
  for (int i = 0; i < L::ITERS; ++i) {
    if (!L::live(tid, i)) continue;
    const T* src = static_cast<const T*>(base);
    const bool ok = it.src(p, i, src);
    tc::cp_async_16<kL1>(dst + off(tid, i), ok ? static_cast<const void*>(src) : base, ok ? 16 : 0);
  }
}

}  // namespace tilenet::kernels::conv
