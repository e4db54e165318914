// Implicit-GEMM convolution on fp16 Tensor Cores (fp32 accumulation), all three passes. (On Hopper
// the wgmma tile, Tile::H, is conv2d_implicit_gemm_wgmma_sm90a.cu; launch_igemm_f16 routes it.)
//
// Algorithm: the GEMM views of kernels/conv2d_igemm.cuh; no im2col buffer: each thread's operand
// iterator computes the input address of its 16-byte chunks on the fly, out-of-range taps and
// ragged edges are zero-filled by cp.async (src-size 0). Tiling: block tile BM x BN x 32, 4 warps,
// warp tile WM x WN of mma.sync.m16n8k16 fragments loaded with ldmatrix (.trans for the
// backward-filter operands, which are pixel-major in memory); 4-stage cp.async pipeline. Shared
// memory rows are padded by 16 bytes, which makes both ldmatrix and its .trans form conflict-free.
// Loaders that cannot use 16-byte copies (small c, k_out not a multiple of 8) read element by
// element into registers before the stage's math and store after it, so their latency hides
// behind one stage of MMAs. Epilogue straight from registers: bias + ReLU (forward), stride-phase
// scatter (backward-data), fp32 split-K partials (backward-filter).
// Constraints: none on shapes; 16-byte aligned pointers for the vector loaders (the host checks).
// Measured (H100, AlexNet conv layers at batch 128, bench/results/h100/conv_dev.md): forward
// 108-313 us a layer (conv3 266 TFLOP/s, 0.6x cuDNN's time; conv2/conv4 1.3-1.5x), backward-data
// conv2-5 0.5-1.4x, backward-filter conv2-5 1.4-1.9x cuDNN's time.
// Resources (-Xptxas -v, sm_90, CUDA 13.0): 84-237 registers over the tiles and loaders, no spills.
#include <cuda_fp16.h>

#include <type_traits>

#include "kernels/conv2d_igemm_loaders.cuh"
#include "kernels/conv2d_igemm_dispatch.cuh"
#include "kernels/launch.h"
#include "kernels/mma_sync_ops.cuh"
#include "tensor/error.h"

namespace tilenet::kernels::conv {
namespace {

template <int BM_, int BN_, int WM_, int WN_, int STAGES_, int MIN_BLOCKS_ = 1>
struct TcCfg {
  static constexpr int BM = BM_, BN = BN_, BK = 32, WM = WM_, WN = WN_, kStages = STAGES_;
  static constexpr int kMinBlocks = MIN_BLOCKS_;
  static constexpr int kWarpsM = BM / WM, kWarpsN = BN / WN;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int MI = WM / 16, NI = WN / 8;
  static_assert(BM % WM == 0 && BN % WN == 0, "warp tiles must cover the block tile");
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile: m16 fragments, n in pairs of n8");
};
using CfgL = TcCfg<128, 128, 64, 64, 4>;
using CfgM = TcCfg<128, 64, 64, 32, 4>;
using CfgS = TcCfg<64, 64, 32, 32, 4>;
using CfgN = TcCfg<128, 16, 32, 16, 4>;
using CfgW = TcCfg<128, 128, 64, 32, 4, 2>;  // the large tile with 8 warps (more latency hiding)

using tc::cp_async_commit;
using tc::cp_async_wait;
using tc::ldmatrix_x4;
using tc::mma_16816;

template <class Cfg, Pass kPass>
struct SmemLayout {
  static constexpr bool kMN = kPass == Pass::wgrad;  // operands stored [BK][BM|BN]
  static constexpr int kALd = kMN ? Cfg::BM + 8 : Cfg::BK + 8;  // halves per row
  static constexpr int kBLd = kMN ? Cfg::BN + 8 : Cfg::BK + 8;
  static constexpr int kAStage = kMN ? Cfg::BK * kALd : Cfg::BM * kALd;
  static constexpr int kBStage = kMN ? Cfg::BK * kBLd : Cfg::BN * kBLd;
  static constexpr int kBytes = Cfg::kStages * (kAStage + kBStage) * 2;
};

// Smem element offset of a thread's chunk i in a tile of layout L (k-major or mn-major).
template <class L, bool kMN, int kLd>
__device__ __forceinline__ int chunk_offset(int tid, int i) {
  if constexpr (kMN)
    return L::krow(tid, i) * kLd + L::col(tid, i);
  else
    return L::row(tid, i) * kLd + L::kc(tid);
}

template <class Cfg, Pass kPass, class AIt, class BIt>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks) igemm_tc_kernel(const Params p) {
  using SL = SmemLayout<Cfg, kPass>;
  constexpr int BK = Cfg::BK, ST = Cfg::kStages, MI = Cfg::MI, NI = Cfg::NI;
  constexpr bool kMN = SL::kMN;
  using LA = typename AIt::L;
  using LB = typename BIt::L;
  extern __shared__ __align__(16) unsigned char smem[];
  half* sA = reinterpret_cast<half*>(smem);
  half* sB = sA + ST * SL::kAStage;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = warp % Cfg::kWarpsM, warp_n = warp / Cfg::kWarpsM;
  const int m_block = blockIdx.x * Cfg::BM, n_block = blockIdx.y * Cfg::BN;
  const int split = blockIdx.z;
  AIt ait;
  BIt bit;
  const int nkt = start_k_tiles<kPass, BK>(p, m_block, n_block, tid, ait, bit);
  Vec<half> areg[AIt::kIsVector ? 1 : LA::ITERS];
  Vec<half> breg[BIt::kIsVector ? 1 : LB::ITERS];

  // Starts the loads of the iterators' current k-tile: cp.async into `stage`, or registers.
  auto issue = [&](int stage) {
    half* a_dst = sA + stage * SL::kAStage;
    half* b_dst = sB + stage * SL::kBStage;
    if constexpr (AIt::kIsVector)
      cp_async_tile<kPass != Pass::wgrad>(ait, p, p.a, a_dst, tid,
                                          [](int t, int i) { return chunk_offset<LA, kMN, SL::kALd>(t, i); });
    else
#pragma unroll
      for (int i = 0; i < LA::ITERS; ++i)
        if (LA::live(tid, i)) areg[i] = ait.load(p, i);
    if constexpr (BIt::kIsVector)
      cp_async_tile<kPass == Pass::wgrad>(bit, p, p.b, b_dst, tid,
                                          [](int t, int i) { return chunk_offset<LB, kMN, SL::kBLd>(t, i); });
    else
#pragma unroll
      for (int i = 0; i < LB::ITERS; ++i)
        if (LB::live(tid, i)) breg[i] = bit.load(p, i);
  };
  // Stores what the register loaders fetched, then moves the iterators on.
  auto finish = [&](int stage) {
    if constexpr (!AIt::kIsVector) {
      half* a_dst = sA + stage * SL::kAStage;
#pragma unroll
      for (int i = 0; i < LA::ITERS; ++i)
        if (LA::live(tid, i))
          *reinterpret_cast<uint4*>(a_dst + chunk_offset<LA, kMN, SL::kALd>(tid, i)) =
              *reinterpret_cast<const uint4*>(areg[i].v);
    }
    if constexpr (!BIt::kIsVector) {
      half* b_dst = sB + stage * SL::kBStage;
#pragma unroll
      for (int i = 0; i < LB::ITERS; ++i)
        if (LB::live(tid, i))
          *reinterpret_cast<uint4*>(b_dst + chunk_offset<LB, kMN, SL::kBLd>(tid, i)) =
              *reinterpret_cast<const uint4*>(breg[i].v);
    }
    ait.advance(p);
    bit.advance(p);
  };

#pragma unroll
  for (int s = 0; s < ST - 1; ++s) {
    if (s < nkt) {
      issue(s);
      finish(s);
    }
    cp_async_commit();
  }
  cp_async_wait<ST - 2>();
  __syncthreads();

  float acc[MI][NI][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.0f;

  int read_stage = 0, write_stage = ST - 1;
  for (int kt = 0; kt < nkt; ++kt) {
    const bool more = kt + ST - 1 < nkt;
    if (more) issue(write_stage);

    const half* a_s = sA + read_stage * SL::kAStage;
    const half* b_s = sB + read_stage * SL::kBStage;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      unsigned af[MI][4], bf[NI][2];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        const int m0 = warp_m * Cfg::WM + mi * 16;
        const half* src;
        if constexpr (kMN)
          src = a_s + (kk + (lane & 7) + (lane >> 4) * 8) * SL::kALd + m0 + ((lane >> 3) & 1) * 8;
        else
          src = a_s + (m0 + (lane & 15)) * SL::kALd + kk + (lane >> 4) * 8;
        ldmatrix_x4<kMN>(af[mi], src);
      }
#pragma unroll
      for (int nj = 0; nj < NI / 2; ++nj) {
        const int n0 = warp_n * Cfg::WN + nj * 16;
        const half* src;
        if constexpr (kMN)
          src = b_s + (kk + (lane & 7) + ((lane >> 3) & 1) * 8) * SL::kBLd + n0 + (lane >> 4) * 8;
        else
          src = b_s + (n0 + (lane & 7) + (lane >> 4) * 8) * SL::kBLd + kk + ((lane >> 3) & 1) * 8;
        unsigned r[4];
        ldmatrix_x4<kMN>(r, src);
        bf[2 * nj][0] = r[0];
        bf[2 * nj][1] = r[1];
        bf[2 * nj + 1][0] = r[2];
        bf[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }

    if (more) finish(write_stage);
    cp_async_commit();
    cp_async_wait<ST - 2>();
    __syncthreads();
    read_stage = read_stage == ST - 1 ? 0 : read_stage + 1;
    write_stage = write_stage == ST - 1 ? 0 : write_stage + 1;
  }
  cp_async_wait<0>();

  // Epilogue: thread holds rows lane/4 (+8) and column pairs 2*(lane%4) of each fragment.
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int m = m_block + warp_m * Cfg::WM + mi * 16 + (lane >> 2) + hh * 8;
      if (m >= p.gemm_m) continue;
      const long long off = out_row_offset<kPass>(p, m, split);
#pragma unroll
      for (int ni = 0; ni < NI; ++ni) {
        const int n = n_block + warp_n * Cfg::WN + ni * 8 + 2 * (lane & 3);
        if (n < p.gemm_n) store_f16_pair<kPass>(p, off, n, acc[mi][ni][2 * hh], acc[mi][ni][2 * hh + 1]);
      }
    }
}

// What conv2d_igemm_dispatch.cuh needs to pick and launch one of these kernels.
struct TensorCoreFamily {
  using Elem = half;
  static constexpr const char* kName = "fp16";
  // Loader modes per tile (conv2d_igemm_dispatch.cuh); every combination is a kernel to compile.
  template <class Cfg>
  struct Loaders : AllLoaders {};

  static constexpr const char* kLaunchName = "conv2d implicit GEMM (fp16 Tensor Cores)";
  template <class Cfg, Pass kPass, class AIt, class BIt>
  static auto kernel() {
    return igemm_tc_kernel<Cfg, kPass, AIt, BIt>;
  }
  // The multi-stage pipeline in dynamic shared memory: above 48 KB for every tile.
  template <class Cfg, Pass kPass>
  static constexpr int smem_bytes() {
    return SmemLayout<Cfg, kPass>::kBytes;
  }

  template <class Fn>
  static auto with_tile(Tile t, Fn&& fn) {
    switch (t) {
      case Tile::L: return fn(static_cast<CfgL*>(nullptr));
      case Tile::M: return fn(static_cast<CfgM*>(nullptr));
      case Tile::N: return fn(static_cast<CfgN*>(nullptr));
      case Tile::W: return fn(static_cast<CfgW*>(nullptr));
      case Tile::H: return fn(static_cast<CfgL*>(nullptr));  // Hopper tile not usable: the large one
      case Tile::S: break;
    }
    return fn(static_cast<CfgS*>(nullptr));
  }
};
template <>
struct TensorCoreFamily::Loaders<CfgL> : VectorLoaders {};
template <>
struct TensorCoreFamily::Loaders<CfgM> : VectorAndSpanLoaders {};
template <>
struct TensorCoreFamily::Loaders<CfgW> : VectorLoaders {};
template <>
struct TensorCoreFamily::Loaders<CfgN> {
  static constexpr bool fwd_span = true, dg_scalar = true, wgrad = false, wg_a_scalar = false, wg_b_span = false;
};

using Dispatch = IgemmDispatch<TensorCoreFamily>;

}  // namespace

#if !defined(TILENET_HAS_SM90A)
namespace wg {  // no sm_90a kernels in this build: Tile::H is never usable
bool usable(Pass, bool, bool) { return false; }
TileShape tile_shape() { return Dispatch::tile_shape(Tile::L); }
int blocks_per_sm(Pass) { return 0; }
void launch(Pass, const Params&, int, cudaStream_t) {
  throw DeviceError("conv2d implicit GEMM (fp16 wgmma): this build has no sm_90a kernels");
}
}  // namespace wg
#endif

// Tile::H goes to the Hopper kernels where they apply, else it is the large tile.
namespace f16 {
TileShape tile_shape(Tile t) { return t == Tile::H ? wg::tile_shape() : Dispatch::tile_shape(t); }
bool tile_available(Pass pass, Tile t, bool va, bool vb) {
  return t == Tile::H ? wg::usable(pass, va, vb) : Dispatch::tile_available(pass, t, va, vb);
}
int blocks_per_sm(Pass pass, Tile t, bool va, bool vb) {
  if (t == Tile::H && wg::usable(pass, va, vb)) return wg::blocks_per_sm(pass);
  return Dispatch::blocks_per_sm(pass, t, va, vb);
}
}  // namespace f16

Tile launch_igemm_f16(Pass pass, Tile tile, bool va, bool vb, const Params& p, int splits, cudaStream_t stream) {
  if (tile == Tile::H) {
    if (wg::usable(pass, va, vb)) {
      wg::launch(pass, p, splits, stream);
      return Tile::H;
    }
    tile = Tile::L;
  }
  return Dispatch::launch(pass, tile, va, vb, p, splits, stream);
}

}  // namespace tilenet::kernels::conv
