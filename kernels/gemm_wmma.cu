// GemmAlgo::Wmma: fp16 inputs, fp32 accumulation, fp16 or fp32 output, on Tensor Cores through
// the WMMA API (16x16x16 fragments; sm_70+). Block tile BM x BN x 32, warps tile it WM x WN with
// (WM/16) x (WN/16) accumulator fragments; operands staged by a 3-stage cp.async pipeline (sm_80+;
// synchronous copies on sm_70) into row-padded shared memory, loaded as row- or column-major
// fragments according to each operand's transpose. The epilogue goes fragment by fragment through
// a per-warp 16x16 scratch so alpha/beta/bias/ReLU and ragged edges are applied per element.
//
// Configurations (index = cfg) and resources (-Xptxas -v, sm_90, over the four transposes; smem:
// the pipeline, whose buffers the epilogue scratch reuses, so cfg 0 fits Turing's 64 KB):
//   0  128x128x32, 8 warps of 64x32, 3 stages: 120-126 regs, 0 spills, 51-60 KB  (large problems)
//   1  64x64x32,   4 warps of 32x32, 3 stages:  64-80 regs,  0 spills, 27-30 KB  (small problems)
// Measured: not yet run on a GPU; correct on the CPU emulator (tests/emu: every configuration,
// transpose and epilogue of the GEMM tests, 2026-11-23). SASS mix (HMMA, LDGSTS): from
// bench/sass_summary.py (cuobjdump; the GPU kit's bench step writes sass.md); not read yet: the
// development machine has no disassembler.
#include <mma.h>

#include <type_traits>

#include "kernels/gemm_fp16_tile.cuh"
#include "kernels/launch.h"

namespace tilenet::kernels {
namespace {

using namespace gemm_detail;
namespace wmma = nvcuda::wmma;

template <int BM_, int BN_, int WM_, int WN_, int STAGES_>
struct WmmaCfg {
  static constexpr int BM = BM_, BN = BN_, BK = 32, WM = WM_, WN = WN_, kStages = STAGES_;
  static constexpr int kWarpsN = BN / WN, kWarps = (BM / WM) * (BN / WN);
  static constexpr int kThreads = kWarps * 32;
  static constexpr int FM = WM / 16, FN = WN / 16;
  static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 16 == 0, "warp tiling");
};
using Cfg0 = WmmaCfg<128, 128, 64, 32, 3>;
using Cfg1 = WmmaCfg<64, 64, 32, 32, 3>;

template <class C, bool TA, bool TB>
struct WmmaLayout {
  using OpA = Fp16Operand<C::BM, C::BK, C::kThreads, !TA>;
  using OpB = Fp16Operand<C::BN, C::BK, C::kThreads, TB>;
  static constexpr int kStageElems = OpA::kElems + OpB::kElems;
  static constexpr int kPipeBytes = C::kStages * kStageElems * 2;
  static constexpr int kScratchBytes = C::kWarps * 16 * 16 * 4;
  // The epilogue scratch reuses the pipeline's memory once the main loop is done.
  static constexpr int kSmemBytes = kPipeBytes > kScratchBytes ? kPipeBytes : kScratchBytes;
  static_assert(kPipeBytes % 32 == 0 && (OpA::kElems * 2) % 32 == 0, "WMMA pointers must be 32-byte aligned");
};

template <class C, bool TA, bool TB>
__global__ void __launch_bounds__(C::kThreads) gemm_wmma_kernel(GemmArgs g) {
#if defined(TILENET_EMU) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700)  // TILENET_EMU: tests/emu
  using L = WmmaLayout<C, TA, TB>;
  using OpA = typename L::OpA;
  using OpB = typename L::OpB;
  using LayoutA = typename std::conditional<TA, wmma::col_major, wmma::row_major>::type;
  using LayoutB = typename std::conditional<TB, wmma::col_major, wmma::row_major>::type;
  extern __shared__ uint4 smem_u4[];
  __half* smem = reinterpret_cast<__half*>(smem_u4);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, z = blockIdx.z;
  const int m0 = blockIdx.x * C::BM, n0 = blockIdx.y * C::BN;
  const int wm0 = (warp / C::kWarpsN) * C::WM, wn0 = (warp % C::kWarpsN) * C::WN;
  const __half* a = static_cast<const __half*>(g.a) + z * g.sa;
  const __half* b = static_cast<const __half*>(g.b) + z * g.sb;
  const auto sa = [&](int s) { return smem + s * L::kStageElems; };
  const auto sb = [&](int s) { return smem + s * L::kStageElems + OpA::kElems; };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[C::FM][C::FN];
#pragma unroll
  for (int i = 0; i < C::FM; ++i)
#pragma unroll
    for (int j = 0; j < C::FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  const int ktiles = (g.k + C::BK - 1) / C::BK;
#pragma unroll
  for (int s = 0; s < C::kStages - 1; ++s) {
    if (s < ktiles) {
      OpA::load(sa(s), a, g.lda, m0, g.m, s * C::BK, g.k, g.a_vec, tid);
      OpB::load(sb(s), b, g.ldb, n0, g.n, s * C::BK, g.k, g.b_vec, tid);
    }
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<C::kStages - 2>();
    __syncthreads();
    {
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
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, LayoutA> af[C::FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, LayoutB> bf[C::FN];
#pragma unroll
      for (int i = 0; i < C::FM; ++i) {
        const int m = wm0 + i * 16, k = ks * 16;
        // row-major A: As[m][k]; column-major A: As[k][m]
        wmma::load_matrix_sync(af[i], TA ? As + k * OpA::kStride + m : As + m * OpA::kStride + k, OpA::kStride);
      }
#pragma unroll
      for (int j = 0; j < C::FN; ++j) {
        const int n = wn0 + j * 16, k = ks * 16;
        // row-major B (k x n): Bs[k][n]; column-major B: Bs[n][k]
        wmma::load_matrix_sync(bf[j], TB ? Bs + n * OpB::kStride + k : Bs + k * OpB::kStride + n, OpB::kStride);
      }
#pragma unroll
      for (int i = 0; i < C::FM; ++i)
#pragma unroll
        for (int j = 0; j < C::FN; ++j) wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // every warp is done with the stages: the epilogue scratch lies over them

  float* mine = reinterpret_cast<float*>(smem_u4) + warp * 256;
#pragma unroll
  for (int i = 0; i < C::FM; ++i)
#pragma unroll
    for (int j = 0; j < C::FN; ++j) {
      wmma::store_matrix_sync(mine, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      // Lane l handles row l / 2, columns (l % 2) * 8 .. +7 as 4 pairs.
      const int r = lane / 2, c0 = (lane % 2) * 8;
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        const float v[2] = {mine[r * 16 + c0 + 2 * p], mine[r * 16 + c0 + 2 * p + 1]};
        store_c<2>(g, z, m0 + wm0 + i * 16 + r, n0 + wn0 + j * 16 + c0 + 2 * p, v);
      }
      __syncwarp();
    }
#endif
}

template <class C, bool TA, bool TB>
void launch_one(const GemmArgs& args, int batch, cudaStream_t stream) {
  using L = WmmaLayout<C, TA, TB>;
  auto* kernel = gemm_wmma_kernel<C, TA, TB>;
  allow_dynamic_smem(kernel, L::kSmemBytes);
  const unsigned tiles_m = ceil_div(args.m, C::BM), tiles_n = ceil_div(args.n, C::BN);
  TILENET_CHECK(tiles_n <= 65535u, ValueError, "gemm (wmma): n=", args.n, " is too wide");
  for_batch_chunks(args, batch, true, [&](const GemmArgs& g, int nb) {
    kernel<<<dim3(tiles_m, tiles_n, nb), C::kThreads, L::kSmemBytes, stream>>>(g);
    check_launch("gemm (wmma)", stream);
  });
}

template <class C>
void launch_cfg(const GemmArgs& g, int batch, cudaStream_t stream) {
  with_transposes(g, [&](auto ta, auto tb) {
    launch_one<C, decltype(ta)::value, decltype(tb)::value>(g, batch, stream);
  });
}

const GemmTileInfo kConfigs[] = {
    {"128x128x32_w64x32_s3", 128, 128},
    {"64x64x32_w32x32_s3", 64, 64},
};

}  // namespace

int wmma_configs(const GemmTileInfo** out) {
  *out = kConfigs;
  return static_cast<int>(sizeof(kConfigs) / sizeof(kConfigs[0]));
}

void launch_gemm_wmma(const GemmArgs& g, int batch, int cfg, cudaStream_t stream) {
  switch (cfg) {
    case 0: launch_cfg<Cfg0>(g, batch, stream); break;
    case 1: launch_cfg<Cfg1>(g, batch, stream); break;
    default: throw ValueError(detail::make_message("gemm (wmma): no configuration ", cfg));
  }
}

}  // namespace tilenet::kernels
