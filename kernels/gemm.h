// GEMM: row-major C = act(alpha * op(A) * op(B) + beta * C + bias), op = none or transpose, with
// leading dimensions, strided batches and a fused epilogue (per-column bias, ReLU). fp32 in/out;
// fp16 in with fp32 accumulation and fp16 or fp32 out. Host-only header.
//
// Row-major throughout: element (i, j) of an R x C matrix X with leading dimension ldx is
// X[i * ldx + j]. op(A) is M x K: A is M x K (lda >= K) when trans_a is false, K x M (lda >= M)
// when true. op(B) is K x N likewise. C is M x N (ldc >= N).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "tensor/half.h"

namespace tilenet::kernels {

enum class Activation { none, relu };

// The kernels, in the order they were built. Auto picks by shape, dtype and device. Algorithms
// that do not support a dtype or device throw tilenet::ValueError when asked for explicitly.
enum class GemmAlgo {
  Auto,
  Naive,            // one thread per output, global loads: the baseline
  SmemTiled,        // shared-memory tiles, one output per thread
  RegisterBlocked,  // shared-memory tiles, 2-D register blocking, vector loads
  WarpTiled,        // warp tiling, double-buffered cp.async pipeline (fp32)
  Wmma,             // fp16 Tensor Cores through WMMA, multi-stage cp.async pipeline
  MmaSync,          // fp16 Tensor Cores through mma.sync + ldmatrix, padded shared memory
  Wgmma,            // Hopper (sm_90a): wgmma fed by TMA, fp16. Auto takes it only after a
                    // once-per-device self-check passed (else mma_sync, with one stderr warning),
                    // never with TILENET_DISABLE_WGMMA=1 set. Operands TMA cannot address (not
                    // 16-byte aligned, ld or batch stride not a multiple of 8) run on MmaSync
                    // even when Wgmma is asked for.
};
const char* gemm_algo_name(GemmAlgo algo);
// Every algorithm that takes the given input dtype (f16 when `half_inputs`), for tests/benches.
std::vector<GemmAlgo> gemm_algos(bool half_inputs);

struct GemmParams {
  std::int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  std::int64_t lda = 0, ldb = 0, ldc = 0;  // 0 means packed: the op's natural width
  float alpha = 1.0f, beta = 0.0f;         // beta == 0: C is not read (may hold NaN)
  int batch = 1;                           // strided batches: A + b*stride_a, ...
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  const float* bias = nullptr;             // [n], fp32, added after alpha/beta; may be null
  Activation act = Activation::none;
};

// Launchers: device pointers, queued on `stream`. Throw tilenet::ValueError/ShapeError for bad
// parameters (negative sizes, leading dimensions too small, null pointers), DeviceError when the
// algorithm cannot run on this device.
void gemm(const GemmParams& p, const float* a, const float* b, float* c, cudaStream_t stream,
          GemmAlgo algo = GemmAlgo::Auto);
void gemm(const GemmParams& p, const half* a, const half* b, float* c, cudaStream_t stream,
          GemmAlgo algo = GemmAlgo::Auto);
void gemm(const GemmParams& p, const half* a, const half* b, half* c, cudaStream_t stream,
          GemmAlgo algo = GemmAlgo::Auto);

// Settles, outside any stream capture, what GemmAlgo::Auto and Conv2dAlgo::Auto may run on the
// current device: on a Hopper GPU with the sm_90a kernels, the once-per-device wgmma self-checks
// of the GEMM and of the convolution tile (Auto never runs them inside a capture, so a CUDA graph
// captured before them would keep the portable fp16 paths). Call it before capturing GEMMs or
// convolutions into a graph; nothing to do elsewhere, and cheap once settled.
void gemm_settle_auto(cudaStream_t stream = nullptr);

// CPU: the reference (plain loops, double accumulation): the oracle for the tests.
void gemm_ref(const GemmParams& p, const float* a, const float* b, float* c);
void gemm_ref(const GemmParams& p, const half* a, const half* b, float* c);
void gemm_ref(const GemmParams& p, const half* a, const half* b, half* c);
// CPU backend used by Tensor ops on the host: blocked and multi-threaded, float accumulation.
void gemm_cpu(const GemmParams& p, const float* a, const float* b, float* c);
void gemm_cpu(const GemmParams& p, const half* a, const half* b, float* c);
void gemm_cpu(const GemmParams& p, const half* a, const half* b, half* c);

// Bias gradient: db[j] = sum_i dy[i, j] (accumulate: db[j] += ...). dy: [rows, cols], db: [cols].
// Deterministic: the same bits for the same inputs on the same device. Tall problems split the rows
// and sum the splits' partials in order in a device workspace (16-byte aligned) of
// column_sums_workspace_bytes(rows, cols) bytes (0: one pass needs none; the size depends on the
// current device's SM count). With a smaller workspace (or none) the split count shrinks to fit,
// down to one slower pass over all rows; the result stays deterministic, though its rounding
// depends on the split count.
std::size_t column_sums_workspace_bytes(std::int64_t rows, std::int64_t cols);
void column_sums(const float* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate,
                 cudaStream_t stream, void* workspace = nullptr, std::size_t workspace_bytes = 0);
void column_sums(const half* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate,
                 cudaStream_t stream, void* workspace = nullptr, std::size_t workspace_bytes = 0);
void column_sums_ref(const float* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate);
void column_sums_ref(const half* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate);

}  // namespace tilenet::kernels
