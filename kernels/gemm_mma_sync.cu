// GemmAlgo::MmaSync: fp16 inputs, fp32 accumulation, fp16 or fp32 output, on Tensor Cores through
// mma.sync.m16n8k16 (sm_80+). Block tile BM x BN x 32, warps tile it WM x WN; fragments come from
// shared memory through ldmatrix.x4 (.trans for operands stored MN-major, so every transpose reads
// the layout it was copied in). Multi-stage cp.async pipeline (kernels/gemm_fp16_tile.cuh), rows
// padded by 16 bytes (conflict-free ldmatrix), one barrier per k-slice. Linear tile index with
// grouped rasterisation. Ragged edges: zero-filled copies, guarded epilogue; unaligned leading
// dimensions: scalar copies (same kernel).
//
// Configurations (index = cfg) and resources (-Xptxas -v, sm_90, over the four transposes; smem
// for the non-transposed case):
//   0  128x128x32, 8 warps of 64x32, 4 stages: 126-164 regs, 0 spills, 74 KB
//   1  64x64x32,   4 warps of 32x32, 4 stages:  93-126 regs, 0 spills, 38 KB  (small problems)
//   2  128x256x32, 8 warps of 64x64, 3 stages: 230-248 regs, 0 spills, 79.5 KB
// Measured: not yet run on a GPU; correct on the CPU emulator (tests/emu: every configuration,
// transpose and epilogue of the GEMM tests, 2026-11-23). SASS mix (HMMA, LDSM, LDGSTS): from
// bench/sass_summary.py (cuobjdump; the GPU kit's bench step writes sass.md); not read yet: the
// development machine has no disassembler.
#include "kernels/gemm_fp16_tile.cuh"
#include "kernels/launch.h"

namespace tilenet::kernels {
namespace {

using namespace gemm_detail;

template <int BM_, int BN_, int WM_, int WN_, int STAGES_>
struct MmaCfg {
  static constexpr int BM = BM_, BN = BN_, BK = 32, WM = WM_, WN = WN_, kStages = STAGES_;
  static constexpr int kWarpsN = BN / WN;
  static constexpr int kThreads = (BM / WM) * (BN / WN) * 32;
  static constexpr int MI = WM / 16, NI = WN / 8;
  static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 16 == 0, "warp tiling");
};
using Cfg0 = MmaCfg<128, 128, 64, 32, 4>;
using Cfg1 = MmaCfg<64, 64, 32, 32, 4>;
using Cfg2 = MmaCfg<128, 256, 64, 64, 3>;

template <class C, bool TA, bool TB>
struct MmaLayout {
  using OpA = Fp16Operand<C::BM, C::BK, C::kThreads, !TA>;
  using OpB = Fp16Operand<C::BN, C::BK, C::kThreads, TB>;
  static constexpr int kStageElems = OpA::kElems + OpB::kElems;
  static constexpr int kSmemBytes = C::kStages * kStageElems * 2;
};

template <class C, bool TA, bool TB>
__global__ void __launch_bounds__(C::kThreads) gemm_mma_sync_kernel(GemmArgs g, int tiles_m, int tiles_n) {
#if defined(TILENET_EMU) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800)  // TILENET_EMU: tests/emu
  using L = MmaLayout<C, TA, TB>;
  using OpA = typename L::OpA;
  using OpB = typename L::OpB;
  extern __shared__ uint4 smem_u4[];
  __half* smem = reinterpret_cast<__half*>(smem_u4);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, z = blockIdx.z;
  int tm, tn;
  raster(tiles_m, tiles_n, tm, tn);
  const int m0 = tm * C::BM, n0 = tn * C::BN;
  const int wm0 = (warp / C::kWarpsN) * C::WM, wn0 = (warp % C::kWarpsN) * C::WN;
  const __half* a = static_cast<const __half*>(g.a) + z * g.sa;
  const __half* b = static_cast<const __half*>(g.b) + z * g.sb;
  const auto sa = [&](int s) { return smem + s * L::kStageElems; };
  const auto sb = [&](int s) { return smem + s * L::kStageElems + OpA::kElems; };

  float acc[C::MI][C::NI][4];
#pragma unroll
  for (int i = 0; i < C::MI; ++i)
#pragma unroll
    for (int j = 0; j < C::NI; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  const int ktiles = (g.k + C::BK - 1) / C::BK;
#pragma unroll
  for (int s = 0; s < C::kStages - 1; ++s) {
    if (s < ktiles) {
      OpA::load(sa(s), a, g.lda, m0, g.m, s * C::BK, g.k, g.a_vec, tid);
      OpB::load(sb(s), b, g.ldb, n0, g.n, s * C::BK, g.k, g.b_vec, tid);
    }
    cp_async_commit();
  }

  const int q = lane / 8, r8 = lane % 8;
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<C::kStages - 2>();
    __syncthreads();
    {  // refill the stage consumed in the previous iteration
      const int next = kt + C::kStages - 1;
      if (next < ktiles) {
        const int s = next % C::kStages;
        OpA::load(sa(s), a, g.lda, m0, g.m, next * C::BK, g.k, g.a_vec, tid);
        OpB::load(sb(s), b, g.ldb, n0, g.n, next * C::BK, g.k, g.b_vec, tid);
      }
      cp_async_commit();
    }
    const __half* As = sa(kt % C::kStages);
    const __half* Bs = sb(kt % C::kStages);
#pragma unroll
    for (int ks = 0; ks < C::BK / 16; ++ks) {
      unsigned af[C::MI][4], bf[C::NI / 2][4];
#pragma unroll
      for (int mi = 0; mi < C::MI; ++mi) {
        if constexpr (!TA) {  // As[m][k]
          const int row = wm0 + mi * 16 + (lane % 16), col = ks * 16 + (lane / 16) * 8;
          ldmatrix_x4<false>(af[mi], As + row * OpA::kStride + col);
        } else {  // As[k][m]
          const int k = ks * 16 + r8 + (q / 2) * 8, m = wm0 + mi * 16 + (q % 2) * 8;
          ldmatrix_x4<true>(af[mi], As + k * OpA::kStride + m);
        }
      }
#pragma unroll
      for (int nj = 0; nj < C::NI / 2; ++nj) {
        if constexpr (TB) {  // Bs[n][k]
          const int n = wn0 + nj * 16 + r8 + (q / 2) * 8, k = ks * 16 + (q % 2) * 8;
          ldmatrix_x4<false>(bf[nj], Bs + n * OpB::kStride + k);
        } else {  // Bs[k][n]
          const int k = ks * 16 + r8 + (q % 2) * 8, n = wn0 + nj * 16 + (q / 2) * 8;
          ldmatrix_x4<true>(bf[nj], Bs + k * OpB::kStride + n);
        }
      }
#pragma unroll
      for (int mi = 0; mi < C::MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < C::NI; ++ni)
          mma_16816(acc[mi][ni], af[mi], bf[ni / 2][(ni % 2) * 2], bf[ni / 2][(ni % 2) * 2 + 1]);
    }
  }
  cp_async_wait<0>();

  const int gr = lane / 4, tc = (lane % 4) * 2;
#pragma unroll
  for (int mi = 0; mi < C::MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < C::NI; ++ni) {
      const int row = m0 + wm0 + mi * 16 + gr, col = n0 + wn0 + ni * 8 + tc;
      const float lo[2] = {acc[mi][ni][0], acc[mi][ni][1]}, hi[2] = {acc[mi][ni][2], acc[mi][ni][3]};
      store_c<2>(g, z, row, col, lo);
      store_c<2>(g, z, row + 8, col, hi);
    }
#else
  __trap();  // the launcher refuses devices below sm_80
#endif
}

template <class C, bool TA, bool TB>
void launch_one(const GemmArgs& args, int batch, cudaStream_t stream) {
  using L = MmaLayout<C, TA, TB>;
  auto* kernel = gemm_mma_sync_kernel<C, TA, TB>;
  allow_dynamic_smem(kernel, L::kSmemBytes);
  const int tiles_m = ceil_div(args.m, C::BM), tiles_n = ceil_div(args.n, C::BN);
  TILENET_CHECK(static_cast<long long>(tiles_m) * tiles_n < (1LL << 31), ValueError, "gemm (mma_sync): ", args.m, "x",
                args.n, " has too many tiles");
  for_batch_chunks(args, batch, true, [&](const GemmArgs& g, int nb) {
    kernel<<<dim3(tiles_m * tiles_n, 1, nb), C::kThreads, L::kSmemBytes, stream>>>(g, tiles_m, tiles_n);
    check_launch("gemm (mma_sync)", stream);
  });
}

template <class C>
void launch_cfg(const GemmArgs& g, int batch, cudaStream_t stream) {
  with_transposes(g, [&](auto ta, auto tb) {
    launch_one<C, decltype(ta)::value, decltype(tb)::value>(g, batch, stream);
  });
}

const GemmTileInfo kConfigs[] = {
    {"128x128x32_w64x32_s4", 128, 128},
    {"64x64x32_w32x32_s4", 64, 64},
    {"128x256x32_w64x64_s3", 128, 256},
};

}  // namespace

int mma_sync_configs(const GemmTileInfo** out) {
  *out = kConfigs;
  return static_cast<int>(sizeof(kConfigs) / sizeof(kConfigs[0]));
}

void launch_gemm_mma_sync(const GemmArgs& g, int batch, int cfg, cudaStream_t stream) {
  switch (cfg) {
    case 0: launch_cfg<Cfg0>(g, batch, stream); break;
    case 1: launch_cfg<Cfg1>(g, batch, stream); break;
    case 2: launch_cfg<Cfg2>(g, batch, stream); break;
    default: throw ValueError(detail::make_message("gemm (mma_sync): no configuration ", cfg));
  }
}

}  // namespace tilenet::kernels
