// Reductions: sum and max over a whole array, and over the last dimension of a [rows, cols] array.
// Inputs float or half; results and accumulation are float. Launchers are deterministic (fixed
// reduction order for a given size and device).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

enum class ReduceOp { sum, max };

// Workspace (device bytes) reduce_all needs for n elements.
std::size_t reduce_all_workspace_bytes(std::int64_t n);
// out[0] = sum or max of x[0..n). n == 0 gives 0 for sum and -inf for max. max skips NaNs (fmax
// semantics, as the reference): a NaN-only input gives -inf; use sum to detect non-finite values.
// workspace: reduce_all_workspace_bytes(n) device bytes.
void reduce_all(ReduceOp op, const float* x, std::int64_t n, float* out, void* workspace, cudaStream_t stream);
void reduce_all(ReduceOp op, const half* x, std::int64_t n, float* out, void* workspace, cudaStream_t stream);
// out[r] = op over c of x[r, c]   x: [rows, cols]  out: [rows]
void reduce_lastdim(ReduceOp op, const float* x, std::int64_t rows, std::int64_t cols, float* out,
                    cudaStream_t stream);
void reduce_lastdim(ReduceOp op, const half* x, std::int64_t rows, std::int64_t cols, float* out,
                    cudaStream_t stream);

// CPU references (sums accumulate in double).
float reduce_all_ref(ReduceOp op, const float* x, std::int64_t n);
float reduce_all_ref(ReduceOp op, const half* x, std::int64_t n);
void reduce_lastdim_ref(ReduceOp op, const float* x, std::int64_t rows, std::int64_t cols, float* out);
void reduce_lastdim_ref(ReduceOp op, const half* x, std::int64_t rows, std::int64_t cols, float* out);

}  // namespace tilenet::kernels
