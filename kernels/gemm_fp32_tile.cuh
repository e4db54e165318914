// fp32 tile loader shared by the register-blocked and warp-tiled SGEMM kernels: a ROWS x BK slice
// of op(A) (ROWS = BM) or op(B)^T (ROWS = BN) goes global -> registers -> shared memory, stored
// k-major (sm[k][row], row stride ROWS + kPad) so the compute loop reads both operands with
// 16-byte LDS along m and n. Global reads are float4 where the operand's rows allow (vec flag) and
// the vector lies inside the matrix; otherwise guarded scalar loads that zero-fill.
//   k-contiguous operand (A not transposed, B transposed): thread f takes row f % ROWS, k-quad
//     f / ROWS; the transposing stores hit 32 consecutive rows per warp (conflict-free).
//   row-contiguous operand (A transposed, B not transposed): float4 along the rows, stored as is.
#pragma once

#include "kernels/gemm_device.cuh"

namespace tilenet::kernels::gemm_detail {

constexpr int kPad = 4;  // floats; keeps rows 16-byte aligned

template <int ROWS, int BK, int THREADS>
struct Fp32TileLoader {
  static constexpr int kVecs = ROWS * BK / 4;
  static constexpr int kPer = kVecs / THREADS;
  static_assert(kVecs % THREADS == 0, "tile must split evenly into float4 per thread");
  static_assert(ROWS % 32 == 0 && BK % 4 == 0, "tile extents");
  static constexpr int kStride = ROWS + kPad;

  float4 r[kPer];

  // base: the operand of this batch; ld its leading dimension; rows [r0, r0+ROWS) of r_lim, k
  // range [k0, k0+BK) of k_lim. kcontig: k runs along the operand's memory rows.
  __device__ __forceinline__ void load(const float* base, long long ld, int r0, int r_lim, int k0, int k_lim,
                                       bool kcontig, bool vec, int tid) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int f = tid + i * THREADS;
      if (kcontig) {
        const int row = r0 + f % ROWS, k = k0 + (f / ROWS) * 4;
        const float* p = base + static_cast<long long>(row) * ld + k;
        if (vec && row < r_lim && k + 3 < k_lim) {
          r[i] = *reinterpret_cast<const float4*>(p);
        } else {
          const bool ok = row < r_lim;
          r[i].x = ok && k < k_lim ? p[0] : 0.0f;
          r[i].y = ok && k + 1 < k_lim ? p[1] : 0.0f;
          r[i].z = ok && k + 2 < k_lim ? p[2] : 0.0f;
          r[i].w = ok && k + 3 < k_lim ? p[3] : 0.0f;
        }
      } else {
        const int k = k0 + f / (ROWS / 4), row = r0 + (f % (ROWS / 4)) * 4;
        const float* p = base + static_cast<long long>(k) * ld + row;
        if (vec && k < k_lim && row + 3 < r_lim) {
          r[i] = *reinterpret_cast<const float4*>(p);
        } else {
          const bool ok = k < k_lim;
          r[i].x = ok && row < r_lim ? p[0] : 0.0f;
          r[i].y = ok && row + 1 < r_lim ? p[1] : 0.0f;
          r[i].z = ok && row + 2 < r_lim ? p[2] : 0.0f;
          r[i].w = ok && row + 3 < r_lim ? p[3] : 0.0f;
        }
      }
    }
  }

  __device__ __forceinline__ void store(float* sm, bool kcontig, int tid) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int f = tid + i * THREADS;
      if (kcontig) {
        const int row = f % ROWS, k = (f / ROWS) * 4;
        sm[(k + 0) * kStride + row] = r[i].x;
        sm[(k + 1) * kStride + row] = r[i].y;
        sm[(k + 2) * kStride + row] = r[i].z;
        sm[(k + 3) * kStride + row] = r[i].w;
      } else {
        const int k = f / (ROWS / 4), row = (f % (ROWS / 4)) * 4;
        *reinterpret_cast<float4*>(sm + k * kStride + row) = r[i];
      }
    }
  }
};

}  // namespace tilenet::kernels::gemm_detail
