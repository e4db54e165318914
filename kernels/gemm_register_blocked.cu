// GemmAlgo::RegisterBlocked: fp32, 64x64x16 block tile, 256 threads as 16 x 16, each thread a 4 x 4
// block of outputs (2-D register blocking: 8 shared loads feed 16 FMAs per k). Operand tiles go
// global -> registers (float4 where aligned) -> shared memory, A stored k-major so both operands
// are read with 16-byte LDS. Single-buffered (two barriers per k-slice): the step before
// WarpTiled's double buffering and warp tiling. Ragged edges and unaligned leading dimensions as
// in WarpTiled (shared loader, kernels/gemm_fp32_tile.cuh).
// Resources (-Xptxas -v, sm_90, CUDA 13.0): 48 registers, 0 spills, 8.5 KB static shared memory.
#include "kernels/gemm_fp32_tile.cuh"
#include "kernels/launch.h"

namespace tilenet::kernels {
namespace {

using namespace gemm_detail;

constexpr int BM = 64, BN = 64, BK = 16, kThreads = 256;

__global__ void __launch_bounds__(kThreads) gemm_register_blocked_kernel(GemmArgs g) {
  __shared__ __align__(16) float as[BK * (BM + kPad)];
  __shared__ __align__(16) float bs[BK * (BN + kPad)];
  const int tid = threadIdx.x, z = blockIdx.z;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int ty = tid / 16, tx = tid % 16;
  const float* a = static_cast<const float*>(g.a) + z * g.sa;
  const float* b = static_cast<const float*>(g.b) + z * g.sb;
  Fp32TileLoader<BM, BK, kThreads> la;
  Fp32TileLoader<BN, BK, kThreads> lb;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < g.k; k0 += BK) {
    la.load(a, g.lda, m0, g.m, k0, g.k, !g.ta, g.a_vec, tid);
    lb.load(b, g.ldb, n0, g.n, k0, g.k, g.tb, g.b_vec, tid);
    la.store(as, !g.ta, tid);
    lb.store(bs, g.tb, tid);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      const float4 av = *reinterpret_cast<const float4*>(as + kk * (BM + kPad) + ty * 4);
      const float4 bv = *reinterpret_cast<const float4*>(bs + kk * (BN + kPad) + tx * 4);
      const float ar[4] = {av.x, av.y, av.z, av.w}, br[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) store_c<4>(g, z, m0 + ty * 4 + i, n0 + tx * 4, acc[i]);
}

}  // namespace

void launch_gemm_register_blocked(const GemmArgs& args, int batch, cudaStream_t stream) {
  for_batch_chunks(args, batch, false, [&](const GemmArgs& g, int nb) {
    const dim3 grid(ceil_div(g.m, BM), ceil_div(g.n, BN), nb);
    gemm_register_blocked_kernel<<<grid, kThreads, 0, stream>>>(g);
    check_launch("gemm (register_blocked)", stream);
  });
}

}  // namespace tilenet::kernels
