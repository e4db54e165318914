// Implicit-GEMM convolution in fp32 on the SIMT cores (no TF32), all three passes.
//
// Algorithm: the GEMM views of kernels/conv2d_igemm.cuh, the same operand iterators as the fp16
// kernel (4-float chunks). Tiling: block tile BM x BN x 8, each thread a TM x TN register block
// made of 4x4 quads spaced half a tile apart (so a warp's 16-byte shared loads are conflict-free
// broadcasts), operands in shared memory as [k][m] and [k][n] so every fragment is one LDS.128.
// K-major sources (forward, backward-data) are transposed on their way into shared memory;
// pixel-major ones (backward-filter) are stored as they come. Global loads for tile k+1 are issued
// into registers before the math of tile k (double-buffered shared memory, one barrier a tile).
// Small-c and odd-k_out loaders read element by element. Epilogues as in the fp16 kernel.
// Constraints: none on shapes; 16-byte aligned pointers for the vector loaders (the host checks).
// Measured (H100, AlexNet conv layers at batch 128, bench/results/h100/conv_dev.md): 26-38
// TFLOP/s on conv2-5 (cuDNN with TF32 off: 20-36); summed over the five layers and three passes
// 0.92-0.94x cuDNN's time with the best tile per case.
// Resources (-Xptxas -v, sm_90, CUDA 13.0): the 128x128 tile is capped at 128 registers for two
// blocks per SM, at the price of an 8-byte spill in its forward and backward-data instances (as
// when the figures above were measured); the other tiles use 96-167 registers, no spills.
#include <type_traits>

#include "kernels/conv2d_igemm_loaders.cuh"
#include "kernels/conv2d_igemm_dispatch.cuh"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels::conv {
namespace {

template <int BM_, int BN_, int TM_, int TN_, int MIN_BLOCKS_>
struct SimtCfg {
  static constexpr int BM = BM_, BN = BN_, BK = 8, TM = TM_, TN = TN_;
  static constexpr int kMinBlocks = MIN_BLOCKS_;  // 2 caps the 256-thread tile at 128 registers
  static constexpr int kTx = BN / TN, kTy = BM / TM, kThreads = kTx * kTy;
  static constexpr int QM = TM / 4, QN = TN / 4;  // quads per thread along m and n
  static_assert(TM % 4 == 0 && TN % 4 == 0, "register blocks are made of 4x4 quads");
  static_assert(kThreads % 32 == 0 && kThreads <= 256, "whole warps, at most 256 threads");
};
using CfgL = SimtCfg<128, 128, 8, 8, 2>;
using CfgM = SimtCfg<128, 64, 8, 8, 1>;
using CfgS = SimtCfg<64, 64, 8, 4, 1>;
using CfgN = SimtCfg<256, 8, 4, 4, 1>;

template <class Cfg, Pass kPass, class AIt, class BIt>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks) igemm_simt_kernel(const Params p) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr bool kMN = kPass == Pass::wgrad;
  using LA = typename AIt::L;
  using LB = typename BIt::L;
  __shared__ __align__(16) float sA[2][BK][BM + 4];
  __shared__ __align__(16) float sB[2][BK][BN + 4];

  const int tid = threadIdx.x;
  const int tx = tid % Cfg::kTx, ty = tid / Cfg::kTx;
  const int m_block = blockIdx.x * BM, n_block = blockIdx.y * BN;
  const int split = blockIdx.z;
  AIt ait;
  BIt bit;
  const int nkt = start_k_tiles<kPass, BK>(p, m_block, n_block, tid, ait, bit);
  Vec<float> ar[LA::ITERS], br[LB::ITERS];

  auto fetch = [&] {
#pragma unroll
    for (int i = 0; i < LA::ITERS; ++i)
      if (LA::live(tid, i)) ar[i] = ait.load(p, i);
#pragma unroll
    for (int i = 0; i < LB::ITERS; ++i)
      if (LB::live(tid, i)) br[i] = bit.load(p, i);
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int i = 0; i < LA::ITERS; ++i) {
      if (!LA::live(tid, i)) continue;
      if constexpr (kMN) {
        *reinterpret_cast<float4*>(&sA[buf][LA::krow(tid, i)][LA::col(tid, i)]) = *reinterpret_cast<const float4*>(ar[i].v);
      } else {
        const int row = LA::row(tid, i), kc = LA::kc(tid);
#pragma unroll
        for (int e = 0; e < 4; ++e) sA[buf][kc + e][row] = ar[i].v[e];
      }
    }
#pragma unroll
    for (int i = 0; i < LB::ITERS; ++i) {
      if (!LB::live(tid, i)) continue;
      if constexpr (kMN) {
        *reinterpret_cast<float4*>(&sB[buf][LB::krow(tid, i)][LB::col(tid, i)]) = *reinterpret_cast<const float4*>(br[i].v);
      } else {
        const int row = LB::row(tid, i), kc = LB::kc(tid);
#pragma unroll
        for (int e = 0; e < 4; ++e) sB[buf][kc + e][row] = br[i].v[e];
      }
    }
    ait.advance(p);
    bit.advance(p);
  };

  // Tiles narrower than their loaders leave rows nobody stores: clear both buffers once.
  if (LA::CHUNKS * 4 < BK * BM || LB::CHUNKS * 4 < BK * BN) {
    for (int i = tid; i < 2 * BK * (BM + 4); i += Cfg::kThreads) (&sA[0][0][0])[i] = 0.0f;
    for (int i = tid; i < 2 * BK * (BN + 4); i += Cfg::kThreads) (&sB[0][0][0])[i] = 0.0f;
    __syncthreads();
  }

  if (nkt > 0) {
    fetch();
    store(0);
  }
  __syncthreads();

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  for (int kt = 0; kt < nkt; ++kt) {
    const int buf = kt & 1;
    const bool more = kt + 1 < nkt;
    if (more) fetch();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int qm = 0; qm < Cfg::QM; ++qm) {
        const float4 v = *reinterpret_cast<const float4*>(&sA[buf][k][qm * (BM / Cfg::QM) + ty * 4]);
        a[qm * 4 + 0] = v.x;
        a[qm * 4 + 1] = v.y;
        a[qm * 4 + 2] = v.z;
        a[qm * 4 + 3] = v.w;
      }
#pragma unroll
      for (int qn = 0; qn < Cfg::QN; ++qn) {
        const float4 v = *reinterpret_cast<const float4*>(&sB[buf][k][qn * (BN / Cfg::QN) + tx * 4]);
        b[qn * 4 + 0] = v.x;
        b[qn * 4 + 1] = v.y;
        b[qn * 4 + 2] = v.z;
        b[qn * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) store(buf ^ 1);
    __syncthreads();
  }

  // Epilogue: rows qm*(BM/QM) + ty*4 + i, columns qn*(BN/QN) + tx*4 + j.
#pragma unroll
  for (int qm = 0; qm < Cfg::QM; ++qm)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int m = m_block + qm * (BM / Cfg::QM) + ty * 4 + i;
      if (m >= p.gemm_m) continue;
      float* row = static_cast<float*>(p.out) + out_row_offset<kPass>(p, m, split);
#pragma unroll
      for (int qn = 0; qn < Cfg::QN; ++qn) {
        const int n = n_block + qn * (BN / Cfg::QN) + tx * 4;
        if (n >= p.gemm_n) continue;
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          v[j] = acc[qm * 4 + i][qn * 4 + j];
          if (kPass == Pass::fwd && n + j < p.gemm_n) {
            if (p.bias) v[j] += p.bias[n + j];
            if (p.relu) v[j] = relu_keep_nan(v[j]);
          }
        }
        if (n + 3 < p.gemm_n && p.pair_store) {
          *reinterpret_cast<float4*>(row + n) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            if (n + j < p.gemm_n) row[n + j] = v[j];
        }
      }
    }
}

// What conv2d_igemm_dispatch.cuh needs to pick and launch one of these kernels.
struct SimtFamily {
  using Elem = float;
  static constexpr const char* kName = "fp32";
  // Loader modes per tile (conv2d_igemm_dispatch.cuh); every combination is a kernel to compile.
  template <class Cfg>
  struct Loaders : AllLoaders {};

  static constexpr const char* kLaunchName = "conv2d implicit GEMM (fp32 SIMT)";
  template <class Cfg, Pass kPass, class AIt, class BIt>
  static auto kernel() {
    return igemm_simt_kernel<Cfg, kPass, AIt, BIt>;
  }
  // Static shared memory only.
  template <class Cfg, Pass kPass>
  static constexpr int smem_bytes() {
    return 0;
  }

  // The SIMT kernels have no 8-warp variant: W runs the large tile.
  template <class Fn>
  static auto with_tile(Tile t, Fn&& fn) {
    switch (t) {
      case Tile::L:
      case Tile::W: return fn(static_cast<CfgL*>(nullptr));
      case Tile::M: return fn(static_cast<CfgM*>(nullptr));
      case Tile::N: return fn(static_cast<CfgN*>(nullptr));
      case Tile::S: break;
    }
    return fn(static_cast<CfgS*>(nullptr));
  }
};
template <>
struct SimtFamily::Loaders<CfgL> : VectorLoaders {};
template <>
struct SimtFamily::Loaders<CfgM> : VectorAndSpanLoaders {};
template <>
struct SimtFamily::Loaders<CfgN> {
  static constexpr bool fwd_span = false, dg_scalar = true, wgrad = false, wg_a_scalar = false, wg_b_span = false;
};

using Dispatch = IgemmDispatch<SimtFamily>;

}  // namespace

namespace f32 {
TileShape tile_shape(Tile t) { return Dispatch::tile_shape(t); }
bool tile_available(Pass pass, Tile t, bool va, bool vb) { return Dispatch::tile_available(pass, t, va, vb); }
int blocks_per_sm(Pass pass, Tile t, bool va, bool vb) { return Dispatch::blocks_per_sm(pass, t, va, vb); }
}  // namespace f32

Tile launch_igemm_f32(Pass pass, Tile tile, bool va, bool vb, const Params& p, int splits, cudaStream_t stream) {
  return Dispatch::launch(pass, tile, va, vb, p, splits, stream);
}

}  // namespace tilenet::kernels::conv
