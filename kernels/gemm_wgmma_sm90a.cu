// GemmAlgo::Wgmma (Hopper, sm_90a only): fp16 inputs, fp32 accumulation, fp16 or fp32 output.
// Block tile 128 x BN x 64 on one SM (192 KB of shared memory): warpgroup 0 is the producer (one
// thread issues TMA bulk-tensor copies, 128-byte swizzle, into a STAGES-deep ring guarded by
// full/empty mbarriers; registers given back with setmaxnreg), warpgroups 1 and 2 are consumers
// (64 rows each: four wgmma.m64nBNk16 per k-slice straight from the swizzled shared memory, fp32
// accumulators in registers, one wgmma group kept in flight; the slice is released when the
// group that read it completes). Transposes: an operand stored K-major is copied as 128-row x
// 64-k boxes; one stored MN-major as 64-wide boxes and read with wgmma's transpose bit (LBO =
// 8 KB between 64-element atoms, SBO = 1 KB between 8-row groups). TMA zero-fills outside the
// matrix, so ragged M/N/K need nothing else; the epilogue (alpha, beta, bias, ReLU, fp16/fp32) is
// applied from registers with guarded stores. Tensor maps are encoded at launch through
// cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled"): the library never links libcuda.
// Requirements (else the dispatcher takes mma.sync): 16-byte aligned A/B, lda/ldb multiples of
// 8 halves, batch strides multiples of 8 that do not overlap.
//
// Configurations (index = cfg) and resources (-Xptxas -v, sm_90a: 168 registers at launch, then
// setmaxnreg 40 for the producer and 232 for the consumers; 0 spills):
//   0  128x256x64, 4 stages, 2 consumer warpgroups of 64x256 (128 accumulators per thread), 194 KB
//   1  128x128x64, 6 stages, 2 consumer warpgroups of 64x128, 194 KB
// Measured: not yet run on a GPU; wgmma_self_check() / GemmGpu.WgmmaSelfCheck name the first
// wrong element of each transpose if a descriptor or fragment layout is off, and GemmAlgo::Auto
// takes this path only once that check has passed on the device (kernels/gemm_wgmma_gate.h).
// On the CPU emulator (tests/emu/hopper_emu.cpp models the mbarrier phases, TMA with 128-byte
// swizzle and zero fill, and wgmma's descriptors and accumulator layout from the PTX ISA), both
// configurations, all transposes, ragged and batched shapes pass the GEMM tests (2026-11-23), and
// planted bugs (wrong SBO, wrong transpose bit, a slice released before its wgmma retired, the
// producer's wrong phase parity) fail them. The emulator shares this file's reading of the ISA, so
// a GPU run is still the proof.
// SASS mix (HGMMA, UTMALDG, no LDL/STL): from bench/sass_summary.py (cuobjdump; the GPU kit's
// bench step writes sass.md); not read yet: the development machine has no disassembler.
#include <cuda.h>  // CUtensorMap and its enums only (no libcuda link)
#include <cuda_fp16.h>

#include <string>

#include "kernels/gemm_device.cuh"
#include "kernels/gemm_internal.h"
#include "kernels/gemm_wgmma_ops.cuh"
#include "kernels/launch.h"

namespace tilenet::kernels {
namespace {

using namespace gemm_detail;

template <int BN_, int STAGES_>
struct WgCfg {
  static constexpr int BM = 128, BN = BN_, BK = 64, kStages = STAGES_;
  static constexpr int kConsumers = 2, kThreads = 128 * (kConsumers + 1);
  static constexpr int kABytes = BM * BK * 2, kBBytes = BN * BK * 2;
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kSmemBytes = kStages * kStageBytes + 1024;  // + slack to align to 1 KB
  static constexpr int kAcc = BN / 2;
  static_assert(BN == 128 || BN == 256, "wgmma wrappers exist for n128 and n256");
  static_assert(kStageBytes % 1024 == 0, "stages must keep the 1 KB swizzle alignment");
  static_assert(kSmemBytes <= 227 * 1024, "shared memory per block");
};
using Cfg0 = WgCfg<256, 4>;
using Cfg1 = WgCfg<128, 6>;

// ---- device helpers (TILENET_EMU: the CPU emulator's versions, tests/emu/hopper_emu.cpp) ---------
__device__ __forceinline__ void mbar_init(std::uint64_t* bar, unsigned count) {
#if defined(TILENET_EMU)
  ::tilenet_emu::mbar_init(bar, count);
#else
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
#endif
}
// Makes the initialised barriers visible to the async proxy (TMA) before any copy names them.
__device__ __forceinline__ void fence_mbarrier_init() {
#if !defined(TILENET_EMU)
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void mbar_expect_tx(std::uint64_t* bar, unsigned bytes) {
#if defined(TILENET_EMU)
  ::tilenet_emu::mbar_arrive(bar, bytes);
#else
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
#endif
}
__device__ __forceinline__ void mbar_arrive(std::uint64_t* bar) {
#if defined(TILENET_EMU)
  ::tilenet_emu::mbar_arrive(bar, 0);
#else
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
#endif
}
__device__ __forceinline__ bool mbar_try_wait(std::uint64_t* bar, unsigned parity) {
#if defined(TILENET_EMU)
  return ::tilenet_emu::mbar_try_wait(bar, parity);
#else
  unsigned ok;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(ok)
      : "r"(smem_addr(bar)), "r"(parity)
      : "memory");
  return ok != 0;
#endif
}
__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, unsigned parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}
__device__ __forceinline__ void tma_load_3d(void* dst, const CUtensorMap* map, std::uint64_t* bar, int c0, int c1,
                                            int c2) {
#if defined(TILENET_EMU)
  const int coords[3] = {c0, c1, c2};
  ::tilenet_emu::tma_load(dst, map, bar, coords, 3);
#else
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n" ::
          "r"(smem_addr(dst)),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
#endif
}
// Register budgets of the producer (dec) and consumer (inc) warpgroups.
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
#if !defined(TILENET_EMU)
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
#if !defined(TILENET_EMU)
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}
template <class C, int TA, int TB>
__global__ void __launch_bounds__(C::kThreads, 1)
    gemm_wgmma_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b, GemmArgs g,
                      int tiles_m, int tiles_n) {
  // Declared 128-aligned (promising 1024 would let the compiler drop the round-up below); the
  // 128B-swizzled tiles need 1024, which the round-up provides out of the launch's 1 KB slack.
  extern __shared__ __align__(128) unsigned char smem_raw[];
  __shared__ __align__(8) std::uint64_t full[C::kStages], empty[C::kStages];
  unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
  const int wg = threadIdx.x / 128, lane = threadIdx.x % 32, z = blockIdx.z;
  int tm, tn;
  raster(tiles_m, tiles_n, tm, tn);
  const int m0 = tm * C::BM, n0 = tn * C::BN;
  const int ktiles = (g.k + C::BK - 1) / C::BK;
  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < C::kStages; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], C::kConsumers * 4);  // lane 0 of every consumer warp
    }
    fence_mbarrier_init();
  }
  __syncthreads();

  if (wg == 0) {  // producer
    setmaxnreg_dec<40>();
    if (threadIdx.x == 0) {
      for (int kt = 0; kt < ktiles; ++kt) {
        const int s = kt % C::kStages;
        if (kt >= C::kStages) mbar_wait(&empty[s], ((kt / C::kStages) & 1) ^ 1);
        mbar_expect_tx(&full[s], C::kStageBytes);
        unsigned char* sa = smem + s * C::kStageBytes;
        unsigned char* sb = sa + C::kABytes;
        const int k0 = kt * C::BK;
        if (!TA) {
          tma_load_3d(sa, &map_a, &full[s], k0, m0, z);
        } else {
#pragma unroll
          for (int j = 0; j < C::BM / 64; ++j) tma_load_3d(sa + j * 8192, &map_a, &full[s], m0 + 64 * j, k0, z);
        }
        if (TB) {
          tma_load_3d(sb, &map_b, &full[s], k0, n0, z);
        } else {
#pragma unroll
          for (int j = 0; j < C::BN / 64; ++j) tma_load_3d(sb + j * 8192, &map_b, &full[s], n0 + 64 * j, k0, z);
        }
      }
    }
  } else {  // consumers: rows [64 * cw, 64 * cw + 64) of the tile
    setmaxnreg_inc<232>();
    const int cw = wg - 1;
    float acc[C::kAcc];
#pragma unroll
    for (int i = 0; i < C::kAcc; ++i) acc[i] = 0.0f;
    for (int kt = 0; kt < ktiles; ++kt) {
      const int s = kt % C::kStages;
      mbar_wait(&full[s], (kt / C::kStages) & 1);
      const unsigned char* sa = smem + s * C::kStageBytes;
      const unsigned char* sb = sa + C::kABytes;
      fence_operands(acc);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < C::BK / 16; ++ks) {
        // K-major: 128-byte rows, +32 bytes per k16; MN-major: 64-element atoms 8 KB apart, +16 rows per k16.
        const std::uint64_t da = !TA ? make_desc(sa + cw * 8192 + ks * 32, 16, 1024)
                                     : make_desc(sa + cw * 8192 + ks * 2048, 8192, 1024);
        const std::uint64_t db = TB ? make_desc(sb + ks * 32, 16, 1024) : make_desc(sb + ks * 2048, 8192, 1024);
        // wgmma's transpose bits say MN-major (1) or K-major (0). A is K-major when not transposed;
        // B is the other way round: B stored n x k (trans_b) is K-major, B stored k x n is MN-major.
        constexpr int kMnMajorA = TA, kMnMajorB = TB ? 0 : 1;
        if constexpr (C::BN == 256)
          wgmma_m64n256k16<kMnMajorA, kMnMajorB>(acc, da, db);
        else
          wgmma_m64n128k16<kMnMajorA, kMnMajorB>(acc, da, db);
      }
      wgmma_commit();
      wgmma_wait<1>();
      fence_operands(acc);
      if (kt > 0 && lane == 0) mbar_arrive(&empty[(kt - 1) % C::kStages]);
    }
    wgmma_wait<0>();
    fence_operands(acc);
    // Accumulator fragment: warp w of the warpgroup owns rows 16w..16w+15; register 4j+e holds
    // row lane/4 (+8 for e >= 2), column 8j + 2*(lane%4) + (e & 1).
    const int row = m0 + cw * 64 + ((threadIdx.x / 32) % 4) * 16 + lane / 4;
    const int col0 = n0 + (lane % 4) * 2;
#pragma unroll
    for (int j = 0; j < C::BN / 8; ++j) {
      const float lo[2] = {acc[4 * j], acc[4 * j + 1]}, hi[2] = {acc[4 * j + 2], acc[4 * j + 3]};
      store_c<2>(g, z, row, col0 + 8 * j, lo);
      store_c<2>(g, z, row + 8, col0 + 8 * j, hi);
    }
  }
}

// ---- host: tensor maps ------------------------------------------------------------------------
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiledFn encode_fn() {
  static const EncodeTiledFn fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      p = nullptr;
    }
    return reinterpret_cast<EncodeTiledFn>(p);
  }();
  return fn;
}

// A row-major fp16 matrix set [batch][outer][inner] (ld, batch stride in elements) tiled in boxes
// of box_outer rows x 64 elements, 128-byte swizzle, zero fill outside.
CUtensorMap make_map(const void* base, long long inner, long long outer, int batch, long long ld, long long stride,
                     int box_outer) {
  const EncodeTiledFn fn = encode_fn();
  TILENET_CHECK(fn != nullptr, DeviceError, "gemm (wgmma): the driver has no cuTensorMapEncodeTiled");
  CUtensorMap map;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(inner), static_cast<cuuint64_t>(outer),
                              static_cast<cuuint64_t>(batch)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(ld) * 2,
                                 static_cast<cuuint64_t>(batch > 1 ? stride : outer * ld) * 2};
  const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(box_outer), 1};
  const cuuint32_t estr[3] = {1, 1, 1};
  const CUresult r = fn(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3, const_cast<void*>(base), dims, strides, box, estr,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  TILENET_CHECK(r == CUDA_SUCCESS, DeviceError, "gemm (wgmma): cuTensorMapEncodeTiled failed with code ",
                static_cast<int>(r), " (inner ", inner, ", outer ", outer, ", batch ", batch, ", ld ", ld, ")");
  return map;
}

template <class C, int TA, int TB>
void launch_one(const GemmArgs& args, int batch, cudaStream_t stream) {
  auto* kernel = gemm_wgmma_kernel<C, TA, TB>;
  allow_dynamic_smem(kernel, C::kSmemBytes);
  const int tiles_m = ceil_div(args.m, C::BM), tiles_n = ceil_div(args.n, C::BN);
  TILENET_CHECK(static_cast<long long>(tiles_m) * tiles_n < (1LL << 31), ValueError, "gemm (wgmma): ", args.m, "x",
                args.n, " has too many tiles");
  for_batch_chunks(args, batch, true, [&](const GemmArgs& g, int nb) {
    const CUtensorMap ma = TA ? make_map(g.a, g.m, g.k, nb, g.lda, g.sa, 64) : make_map(g.a, g.k, g.m, nb, g.lda, g.sa, C::BM);
    const CUtensorMap mb = TB ? make_map(g.b, g.k, g.n, nb, g.ldb, g.sb, C::BN) : make_map(g.b, g.n, g.k, nb, g.ldb, g.sb, 64);
    kernel<<<dim3(tiles_m * tiles_n, 1, nb), C::kThreads, C::kSmemBytes, stream>>>(ma, mb, g, tiles_m, tiles_n);
    check_launch("gemm (wgmma)", stream);
  });
}

template <class C>
void launch_cfg(const GemmArgs& g, int batch, cudaStream_t stream) {
  with_transposes(g, [&](auto ta, auto tb) {
    launch_one<C, decltype(ta)::value, decltype(tb)::value>(g, batch, stream);
  });
}

const GemmTileInfo kConfigs[] = {
    {"128x256x64_s4", 128, 256},
    {"128x128x64_s6", 128, 128},
};

}  // namespace

int wgmma_configs(const GemmTileInfo** out) {
  *out = kConfigs;
  return static_cast<int>(sizeof(kConfigs) / sizeof(kConfigs[0]));
}

bool wgmma_supports(const GemmArgs& g, int batch) {
  if (!is_aligned(g.a, 16) || !is_aligned(g.b, 16) || g.lda % 8 != 0 || g.ldb % 8 != 0) return false;
  if (batch <= 1) return true;
  // Batched: the strides become the tensor maps' third stride: 16-byte multiples, no overlap.
  const long long rows_a = g.ta ? g.k : g.m, rows_b = g.tb ? g.n : g.k;
  return g.sa % 8 == 0 && g.sb % 8 == 0 && g.sa >= rows_a * g.lda && g.sb >= rows_b * g.ldb && g.sa > 0 &&
         g.sb > 0;
}

void launch_gemm_wgmma(const GemmArgs& g, int batch, int cfg, cudaStream_t stream) {
  TILENET_CHECK(wgmma_supports(g, batch), ValueError, "gemm (wgmma): operands not 16-byte aligned or batch strides the tensor maps cannot take");
  switch (cfg) {
    case 0: launch_cfg<Cfg0>(g, batch, stream); break;
    case 1: launch_cfg<Cfg1>(g, batch, stream); break;
    default: throw ValueError(detail::make_message("gemm (wgmma): no configuration ", cfg));
  }
}

}  // namespace tilenet::kernels
