// GemmAlgo::Naive: one thread per output element, operands read straight from global memory with
// float accumulation. The baseline of the progression, and the path for k == 0 (epilogue only).
// Any shape, transpose, leading dimension and alignment; fp32 or fp16 inputs.
// Tiling: 16x16 threads per block, grid (ceil(n/16), min(ceil(m/16), 65535), batch), rows striding
// over grid.y. 40 registers (sm_90, CUDA 13.0).
#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/gemm_device.cuh"
#include "kernels/launch.h"

namespace tilenet::kernels {
namespace {

using namespace gemm_detail;

// Columns on grid.x (no 65535 limit: k == 0 sends every width here), rows striding over grid.y.
template <typename TI>
__global__ void __launch_bounds__(256) gemm_naive_kernel(GemmArgs g) {
  const int col = blockIdx.x * 16 + threadIdx.x;
  const int z = blockIdx.z;
  if (col >= g.n) return;
  const TI* a = static_cast<const TI*>(g.a) + z * g.sa;  // (m x k) or (k x m)
  const TI* b = static_cast<const TI*>(g.b) + z * g.sb;  // (k x n) or (n x k)
  const long long a_row = g.ta ? 1 : g.lda, a_k = g.ta ? g.lda : 1;
  const long long b_k = g.tb ? 1 : g.ldb, b_col = g.tb ? g.ldb : 1;
  for (long long row = blockIdx.y * 16 + threadIdx.y; row < g.m; row += gridDim.y * 16) {
    float acc = 0.0f;
    for (int q = 0; q < g.k; ++q)
      acc = fmaf(load_in(a, row * a_row + q * a_k), load_in(b, q * b_k + col * b_col), acc);
    const float v[1] = {acc};
    store_c<1>(g, z, static_cast<int>(row), col, v);
  }
}

}  // namespace

void launch_gemm_naive(const GemmArgs& args, int batch, bool half_in, cudaStream_t stream) {
  for_batch_chunks(args, batch, half_in, [&](const GemmArgs& g, int nb) {
    const dim3 grid(ceil_div(g.n, 16), std::min(ceil_div(g.m, 16), 65535), nb), block(16, 16);
    if (half_in)
      gemm_naive_kernel<__half><<<grid, block, 0, stream>>>(g);
    else
      gemm_naive_kernel<float><<<grid, block, 0, stream>>>(g);
    check_launch("gemm (naive)", stream);
  });
}

}  // namespace tilenet::kernels
