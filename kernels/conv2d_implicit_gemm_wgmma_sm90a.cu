// Implicit-GEMM convolution on Hopper's wgmma (sm_90a only): fp16 inputs, fp32 accumulation, all
// three passes, Tile::H of kernels/conv2d_igemm.cuh (Conv2dAlgo::ImplicitGemmWgmma).
//
// Algorithm: the GEMM views and operand iterators of the mma.sync kernel
// (conv2d_implicit_gemm_f16.cu), with the math on wgmma. Block tile 128 x 128 x 64 on two
// warpgroups (256 threads; warpgroup w owns rows 64w..64w+63 and all 128 columns: one
// wgmma.m64n128k16 per k16, 64 fp32 accumulators per thread). No warp specialisation: every thread
// computes its chunks' input addresses on the fly (the gathers TMA cannot do) and copies them with
// 16-byte cp.async (zero-fill for padding taps and ragged edges) straight into the 128-byte
// swizzled layout wgmma reads: K-major tiles (forward, backward-data) as 128-byte rows of 64 k,
// chunk j of row r at chunk j ^ (r % 8); MN-major tiles (backward-filter: pixel-major operands) as
// 64-column atoms of 64 k-rows (8 KB) side by side, read with wgmma's transpose bits. The same
// layouts as the TMA boxes of the Hopper GEMM (gemm_wgmma_sm90a.cu), so the same descriptors:
// K-major SBO 1 KB, +32 bytes per k16; MN-major LBO 8 KB, SBO 1 KB, +2 KB per k16.
// Pipeline: 5 stages of 32 KB, copies running 4 k-tiles ahead; per k-tile one barrier: wait for
// the tile's copies, proxy fence, __syncthreads, the tile's four wgmmas (async), then, while they
// run, the copies of tile kt + 4 into the stage every warpgroup finished with in the last
// iteration, then wait_group 0. Epilogue from registers as the mma.sync kernel's (a warp's
// accumulator fragment is mma.sync's m16n8 layout repeated along n).
// Constraints: the 16-byte loaders on both operands (c and k_out multiples of 8 where the pass
// gathers them, 16-byte aligned pointers); otherwise the dispatcher runs the mma.sync tiles.
// Resources (-Xptxas -v, sm_90a, CUDA 13.0, 2026-11-23): 126 registers forward and backward-data,
// 144 backward-filter, no spills; 164,864 bytes of dynamic shared memory (one block per SM).
// Measured: not yet run on a GPU. On the CPU emulator (tests/emu: wgmma descriptors, swizzle and
// accumulator layout as in the PTX ISA) every pass matches the CPU reference on the convolution
// tests' shapes. Auto takes this tile only after the once-per-device wgmma self-check, which
// includes a convolution of each pass on this tile (kernels/gemm_wgmma_self_check.cpp), passed.
#include <cuda_fp16.h>

#include "kernels/conv2d_igemm_dispatch.cuh"
#include "kernels/conv2d_igemm_loaders.cuh"
#include "kernels/gemm_wgmma_ops.cuh"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels::conv {
namespace {

using gemm_detail::fence_operands;
using gemm_detail::fence_proxy_async;
using gemm_detail::make_desc;
using gemm_detail::wgmma_commit;
using gemm_detail::wgmma_fence;
using gemm_detail::wgmma_m64n128k16;
using gemm_detail::wgmma_wait;
using tc::cp_async_commit;
using tc::cp_async_wait;
using tc::smem_addr;

struct WgConvCfg {
  static constexpr int BM = 128, BN = 128, BK = 64, kStages = 5;
  static constexpr int kThreads = 256;
  static constexpr int kTileBytes = 128 * 64 * 2;  // one operand's stage: 16 KB
  static constexpr int kStageBytes = 2 * kTileBytes;
  static constexpr int kSmemBytes = kStages * kStageBytes + 1024;  // + slack to align to 1 KB
  static_assert(kStages >= 2, "one stage in the wgmma, the others landing");
};

// Element offsets of a thread's 16-byte chunk in the swizzled tiles.
template <class L>
__device__ __forceinline__ int kmajor_offset(int tid, int i) {  // [rows][64], 128-byte rows
  const int r = L::row(tid, i);
  return r * 64 + (((L::kc(tid) >> 3) ^ (r & 7)) << 3);
}
template <class L>
__device__ __forceinline__ int mnmajor_offset(int tid, int i) {  // [64][cols] as 64-column atoms
  const int kr = L::krow(tid, i), c = L::col(tid, i);
  return (c >> 6) * 4096 + kr * 64 + ((((c >> 3) & 7) ^ (kr & 7)) << 3);
}

template <Pass kPass, class AIt, class BIt>
__global__ void __launch_bounds__(WgConvCfg::kThreads, 1) igemm_wgmma_kernel(const Params p) {
  using C = WgConvCfg;
  using LA = typename AIt::L;
  using LB = typename BIt::L;
  constexpr bool kMN = kPass == Pass::wgrad;  // both operands pixel-major: MN-major tiles
  constexpr int ST = C::kStages;
  static_assert(AIt::kIsVector && BIt::kIsVector, "the wgmma tile takes the 16-byte loaders only");
  // Declared 128-aligned; the swizzled tiles need 1024, which the round-up takes from the slack.
  extern __shared__ __align__(128) unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);

  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int m_block = blockIdx.x * C::BM, n_block = blockIdx.y * C::BN;
  const int split = blockIdx.z;
  AIt ait;
  BIt bit;
  const int nkt = start_k_tiles<kPass, C::BK>(p, m_block, n_block, tid, ait, bit);
  auto a_offset = [](int t, int i) {
    if constexpr (kMN)
      return mnmajor_offset<LA>(t, i);
    else
      return kmajor_offset<LA>(t, i);
  };
  auto b_offset = [](int t, int i) {
    if constexpr (kMN)
      return mnmajor_offset<LB>(t, i);
    else
      return kmajor_offset<LB>(t, i);
  };
  // Starts the copies of the iterators' current k-tile into `stage` and moves them on.
  auto issue = [&](int stage) {
    half* a_dst = reinterpret_cast<half*>(smem + stage * C::kStageBytes);
    half* b_dst = a_dst + C::kTileBytes / 2;
    cp_async_tile<kPass != Pass::wgrad>(ait, p, p.a, a_dst, tid, a_offset);
    cp_async_tile<kPass == Pass::wgrad>(bit, p, p.b, b_dst, tid, b_offset);
    ait.advance(p);
    bit.advance(p);
  };

#pragma unroll
  for (int s = 0; s < ST - 1; ++s) {
    if (s < nkt) issue(s);
    cp_async_commit();
  }

  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;

  for (int kt = 0; kt < nkt; ++kt) {
    // Copy groups committed so far: tiles up to kt + ST - 2; tile kt's must be complete.
    cp_async_wait<ST - 2>();
    fence_proxy_async();
    // After this barrier every thread's copies of tile kt are visible to wgmma, and every
    // warpgroup has retired tile kt - 1's wgmmas (wait_group 0 at the end of the last iteration).
    __syncthreads();

    const unsigned char* sa = smem + (kt % ST) * C::kStageBytes;
    const unsigned char* sb = sa + C::kTileBytes;
    fence_operands(acc);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < C::BK / 16; ++ks) {
      // Warpgroup wg's 64 rows: 8 KB into A in both layouts (64 K-major rows, or the wg-th atom).
      const std::uint64_t da =
          kMN ? make_desc(sa + wg * 8192 + ks * 2048, 8192, 1024) : make_desc(sa + wg * 8192 + ks * 32, 16, 1024);
      const std::uint64_t db = kMN ? make_desc(sb + ks * 2048, 8192, 1024) : make_desc(sb + ks * 32, 16, 1024);
      wgmma_m64n128k16<kMN ? 1 : 0, kMN ? 1 : 0>(acc, da, db);
    }
    wgmma_commit();
    // While the tensor cores run, start the copies of tile kt + ST - 1 into tile kt - 1's stage.
    // The group is drained before the loop goes on: with a group still in flight across the
    // next iteration's copies, ptxas serialises the wgmmas of the backward-filter kernel (C7515).
    if (kt + ST - 1 < nkt) issue((kt + ST - 1) % ST);
    cp_async_commit();
    wgmma_wait<0>();
    fence_operands(acc);
  }
  cp_async_wait<0>();  // only empty groups are left; nothing may be pending at exit

  // Register 4j + e: row lane/4 (+8 for e >= 2) of the warp's 16, columns 8j + 2*(lane%4) + {0,1}.
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int m = m_block + wg * 64 + warp * 16 + (lane >> 2) + hh * 8;
    if (m >= p.gemm_m) continue;
    const long long off = out_row_offset<kPass>(p, m, split);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int n = n_block + j * 8 + 2 * (lane & 3);
      if (n < p.gemm_n) store_f16_pair<kPass>(p, off, n, acc[4 * j + 2 * hh], acc[4 * j + 2 * hh + 1]);
    }
  }
}

// What conv2d_igemm_dispatch.cuh needs to launch these kernels: one tile, the vector loaders only.
struct WgmmaFamily {
  using Elem = half;
  static constexpr const char* kName = "fp16 wgmma";
  static constexpr const char* kLaunchName = "conv2d implicit GEMM (fp16 wgmma)";
  template <class Cfg>
  struct Loaders : VectorLoaders {};
  template <class Cfg, Pass kPass, class AIt, class BIt>
  static auto kernel() {
    return igemm_wgmma_kernel<kPass, AIt, BIt>;
  }
  template <class Cfg, Pass kPass>
  static constexpr int smem_bytes() {
    return Cfg::kSmemBytes;
  }
  template <class Fn>
  static auto with_tile(Tile, Fn&& fn) {
    return fn(static_cast<WgConvCfg*>(nullptr));
  }
};

using Dispatch = IgemmDispatch<WgmmaFamily>;

}  // namespace

namespace wg {
bool usable(Pass pass, bool va, bool vb) {
  return va && (pass != Pass::wgrad || vb) && sm90a_kernels_available();
}
TileShape tile_shape() { return TileShape{WgConvCfg::BM, WgConvCfg::BN, WgConvCfg::BK}; }
int blocks_per_sm(Pass pass) { return Dispatch::blocks_per_sm(pass, Tile::H, true, true); }
void launch(Pass pass, const Params& p, int splits, cudaStream_t stream) {
  (void)Dispatch::launch(pass, Tile::H, true, true, p, splits, stream);  // callers checked usable()
}
}  // namespace wg

}  // namespace tilenet::kernels::conv
