// fp16 tile loader shared by the WMMA and mma.sync kernels: an R x C tile (C contiguous in global
// memory and in shared memory) of an operand goes global -> shared with 16-byte cp.async (8
// halves), rows padded by 8 halves (16 bytes) so ldmatrix / WMMA loads of 8 consecutive rows hit 8
// distinct 16-byte bank groups. At the ragged edge a chunk copies only the bytes inside the matrix
// (cp.async zero-fills the rest); without 16-byte alignment (vec flag false) the chunk is filled
// by guarded scalar loads instead (synchronous, same layout). The pipeline's barriers order both.
#pragma once

#include "kernels/gemm_device.cuh"

namespace tilenet::kernels::gemm_detail {

constexpr int kHalfPad = 8;

template <int R, int C, int THREADS>
struct Fp16TileLoader {
  static constexpr int kChunksPerRow = C / 8;
  static constexpr int kChunks = R * kChunksPerRow;
  static constexpr int kPer = kChunks / THREADS;
  static constexpr int kStride = C + kHalfPad;  // halves
  static constexpr int kElems = R * kStride;    // halves per stage
  static_assert(C % 8 == 0 && kChunks % THREADS == 0, "tile must split evenly into 16-byte chunks");

  // Tile rows [r0, r0+R) of r_lim, columns [c0, c0+C) of c_lim of the operand `base` (ld).
  static __device__ __forceinline__ void load(__half* sm, const __half* base, long long ld, int r0, int r_lim, int c0,
                                              int c_lim, bool vec, int tid) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int f = tid + i * THREADS;
      const int row = f / kChunksPerRow, col = (f % kChunksPerRow) * 8;
      const int gr = r0 + row, gc = c0 + col;
      __half* dst = sm + row * kStride + col;
      const __half* src = base + static_cast<long long>(gr) * ld + gc;
      if (vec) {
        const int valid = (gr < r_lim) ? max(0, min(8, c_lim - gc)) : 0;
        cp_async_16(dst, valid > 0 ? src : base, valid * 2);
      } else {
        const bool ok = gr < r_lim;
        alignas(16) __half h[8];  // stored as one 16-byte word
#pragma unroll
        for (int e = 0; e < 8; ++e) h[e] = (ok && gc + e < c_lim) ? src[e] : __float2half(0.0f);
        *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(h);
      }
    }
  }
};

// Geometry of one operand tile: op(A) is BM x BK (MN = BM), op(B)^T is BN x BK (MN = BN).
// kcontig: k runs along the operand's memory rows (A not transposed, B transposed): the tile is
// stored [MN][BK]; otherwise [BK][MN].
template <int MN, int BK, int THREADS, bool KCONTIG>
struct Fp16Operand {
  using Loader = Fp16TileLoader<KCONTIG ? MN : BK, KCONTIG ? BK : MN, THREADS>;
  static constexpr int kElems = Loader::kElems;
  static constexpr int kStride = Loader::kStride;
  static __device__ __forceinline__ void load(__half* sm, const __half* base, long long ld, int mn0, int mn_lim, int k0,
                                              int k_lim, bool vec, int tid) {
    if constexpr (KCONTIG)
      Loader::load(sm, base, ld, mn0, mn_lim, k0, k_lim, vec, tid);
    else
      Loader::load(sm, base, ld, k0, k_lim, mn0, mn_lim, vec, tid);
  }
};

}  // namespace tilenet::kernels::gemm_detail
