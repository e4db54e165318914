// GemmAlgo::WarpTiled: the fp32 SGEMM. Block tile BM x BN x BK, warps tile it WM x WN, each lane
// of a warp (8 x 4 lanes) owns TM x TN outputs as (WM/32) x (WN/16) sub-tiles of 4 x 4, so the
// inner loop per k reads op(A) and op(B) from shared memory with 16-byte LDS (A is stored
// transposed, k-major) and issues TM*TN FFMA per (TM+TN)/4 loads. Shared memory is double-buffered:
// the next k-slice is read into registers (float4 where aligned) while the current one is computed,
// then stored to the other buffer; one barrier per slice. Linear tile index with grouped
// rasterisation (8 tile rows) for L2 reuse. Ragged edges: zero-filled loads, guarded epilogue.
// Unaligned leading dimensions: scalar loads (vec flags), same kernel.
//
// Configurations (index = cfg) and resources (-Xptxas -v, sm_90, CUDA 13.0; dynamic smem):
//   0  128x128x8,  warp 64x32, 256 threads, 8x8/thread:  128 regs, 0 spills, 16.5 KB (default, large)
//   1  128x128x16, warp 64x32, 256 threads, 8x8/thread:  128 regs, 0 spills, 33.0 KB
//   2  128x256x8,  warp 64x64, 256 threads, 8x16/thread: 254 regs, 0 spills, 24.5 KB
//   3  64x64x8,    warp 32x32, 128 threads, 4x8/thread:  109 regs, 0 spills,  8.5 KB (small problems)
// Measured: not yet run on a GPU; correct on the CPU emulator (tests/emu: every configuration,
// transpose and epilogue of the GEMM tests, 2026-11-23). SASS mix (LDS.128, FFMA share, no LDL/STL): from
// bench/sass_summary.py (cuobjdump; the GPU kit's bench step writes sass.md); not read yet: the
// development machine has no disassembler.
#include "kernels/gemm_fp32_tile.cuh"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {

using namespace gemm_detail;

template <int BM_, int BN_, int BK_, int WM_, int WN_, int MIN_BLOCKS_>
struct WarpTiledCfg {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_;
  static constexpr int kWarpsM = BM / WM, kWarpsN = BN / WN;
  static constexpr int kThreads = kWarpsM * kWarpsN * 32;
  static constexpr int kMinBlocks = MIN_BLOCKS_;
  static constexpr int kSubM = WM / 32, kSubN = WN / 16;  // 4x4 sub-tiles per lane
  static constexpr int TM = kSubM * 4, TN = kSubN * 4;
  static constexpr int kStageFloats = BK * (BM + kPad) + BK * (BN + kPad);
  static constexpr int kSmemBytes = 2 * kStageFloats * static_cast<int>(sizeof(float));
  static_assert(BM % WM == 0 && BN % WN == 0, "warps must tile the block");
  static_assert(WM % 32 == 0 && WN % 16 == 0, "lanes are 8 x 4, each with 4 x 4 sub-tiles");
  static_assert(kThreads <= 1024, "block too large");
};

using Cfg0 = WarpTiledCfg<128, 128, 8, 64, 32, 2>;
using Cfg1 = WarpTiledCfg<128, 128, 16, 64, 32, 2>;
using Cfg2 = WarpTiledCfg<128, 256, 8, 64, 64, 1>;
using Cfg3 = WarpTiledCfg<64, 64, 8, 32, 32, 4>;

template <class C>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocks) gemm_warp_tiled_kernel(GemmArgs g, int tiles_m, int tiles_n) {
  extern __shared__ float4 smem_f4[];
  float* smem = reinterpret_cast<float*>(smem_f4);
  const int tid = threadIdx.x, z = blockIdx.z;
  int tm, tn;
  raster(tiles_m, tiles_n, tm, tn);
  const int m0 = tm * C::BM, n0 = tn * C::BN;
  const float* a = static_cast<const float*>(g.a) + z * g.sa;
  const float* b = static_cast<const float*>(g.b) + z * g.sb;
  const bool a_kc = !g.ta, b_kc = g.tb;  // k runs along memory rows

  Fp32TileLoader<C::BM, C::BK, C::kThreads> la;
  Fp32TileLoader<C::BN, C::BK, C::kThreads> lb;
  const auto as = [&](int buf) { return smem + buf * C::kStageFloats; };
  const auto bs = [&](int buf) { return smem + buf * C::kStageFloats + C::BK * (C::BM + kPad); };

  const int warp = tid / 32, lane = tid % 32;
  const int wm0 = (warp / C::kWarpsN) * C::WM + (lane / 4) * 4;
  const int wn0 = (warp % C::kWarpsN) * C::WN + (lane % 4) * 4;

  float acc[C::TM][C::TN];
#pragma unroll
  for (int i = 0; i < C::TM; ++i)
#pragma unroll
    for (int j = 0; j < C::TN; ++j) acc[i][j] = 0.0f;

  const int ktiles = (g.k + C::BK - 1) / C::BK;
  la.load(a, g.lda, m0, g.m, 0, g.k, a_kc, g.a_vec, tid);
  lb.load(b, g.ldb, n0, g.n, 0, g.k, b_kc, g.b_vec, tid);
  la.store(as(0), a_kc, tid);
  lb.store(bs(0), b_kc, tid);
  __syncthreads();

  for (int kt = 0; kt < ktiles; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < ktiles;
    if (more) {
      la.load(a, g.lda, m0, g.m, (kt + 1) * C::BK, g.k, a_kc, g.a_vec, tid);
      lb.load(b, g.ldb, n0, g.n, (kt + 1) * C::BK, g.k, b_kc, g.b_vec, tid);
    }
    const float* sa = as(cur);
    const float* sb = bs(cur);
#pragma unroll
    for (int kk = 0; kk < C::BK; ++kk) {
      float av[C::TM], bv[C::TN];
#pragma unroll
      for (int s = 0; s < C::kSubM; ++s) {
        const float4 v = *reinterpret_cast<const float4*>(sa + kk * (C::BM + kPad) + wm0 + s * 32);
        av[s * 4 + 0] = v.x, av[s * 4 + 1] = v.y, av[s * 4 + 2] = v.z, av[s * 4 + 3] = v.w;
      }
#pragma unroll
      for (int t = 0; t < C::kSubN; ++t) {
        const float4 v = *reinterpret_cast<const float4*>(sb + kk * (C::BN + kPad) + wn0 + t * 16);
        bv[t * 4 + 0] = v.x, bv[t * 4 + 1] = v.y, bv[t * 4 + 2] = v.z, bv[t * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < C::TM; ++i)
#pragma unroll
        for (int j = 0; j < C::TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (more) {
      la.store(as(cur ^ 1), a_kc, tid);
      lb.store(bs(cur ^ 1), b_kc, tid);
    }
    __syncthreads();
  }

#pragma unroll
  for (int s = 0; s < C::kSubM; ++s)
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int t = 0; t < C::kSubN; ++t) {
        const float v[4] = {acc[s * 4 + i][t * 4 + 0], acc[s * 4 + i][t * 4 + 1], acc[s * 4 + i][t * 4 + 2],
                            acc[s * 4 + i][t * 4 + 3]};
        store_c<4>(g, z, m0 + wm0 + s * 32 + i, n0 + wn0 + t * 16, v);
      }
}

template <class C>
void launch_cfg(const GemmArgs& args, int batch, cudaStream_t stream) {
  allow_dynamic_smem(gemm_warp_tiled_kernel<C>, C::kSmemBytes);
  const int tiles_m = ceil_div(args.m, C::BM), tiles_n = ceil_div(args.n, C::BN);
  TILENET_CHECK(static_cast<long long>(tiles_m) * tiles_n < (1LL << 31), ValueError, "gemm (warp_tiled): ", args.m,
                "x", args.n, " has too many tiles");
  for_batch_chunks(args, batch, false, [&](const GemmArgs& g, int nb) {
    gemm_warp_tiled_kernel<C><<<dim3(tiles_m * tiles_n, 1, nb), C::kThreads, C::kSmemBytes, stream>>>(g, tiles_m, tiles_n);
    check_launch("gemm (warp_tiled)", stream);
  });
}

const GemmTileInfo kConfigs[] = {
    {"128x128x8_w64x32", 128, 128},
    {"128x128x16_w64x32", 128, 128},
    {"128x256x8_w64x64", 128, 256},
    {"64x64x8_w32x32", 64, 64},
};

}  // namespace

int warp_tiled_configs(const GemmTileInfo** out) {
  *out = kConfigs;
  return static_cast<int>(sizeof(kConfigs) / sizeof(kConfigs[0]));
}

void launch_gemm_warp_tiled(const GemmArgs& g, int batch, int cfg, cudaStream_t stream) {
  switch (cfg) {
    case 0: launch_cfg<Cfg0>(g, batch, stream); break;
    case 1: launch_cfg<Cfg1>(g, batch, stream); break;
    case 2: launch_cfg<Cfg2>(g, batch, stream); break;
    case 3: launch_cfg<Cfg3>(g, batch, stream); break;
    default: throw ValueError(detail::make_message("gemm (warp_tiled): no configuration ", cfg));
  }
}

}  // namespace tilenet::kernels
