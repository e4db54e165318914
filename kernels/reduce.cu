// Reductions. reduce_all: pass 1 has each block fold a grid-stride share of the input into one
// partial (16-byte loads when aligned), pass 2 folds the partials in one block: deterministic for
// a given n and device. reduce_lastdim: a warp per row for rows up to 1024 wide, a block per row
// beyond. Accumulation in float.
#include <cuda_fp16.h>

#include <cmath>

#include "kernels/cuda_utils.cuh"
#include "kernels/launch.h"
#include "kernels/reduce.h"

namespace tilenet::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxPartials = 1024;

template <bool kMax>
__device__ __forceinline__ float combine(float a, float b) {
  return kMax ? fmaxf(a, b) : a + b;
}

template <typename T, bool kMax>
__global__ void __launch_bounds__(kThreads) reduce_partial_kernel(const T* x, std::int64_t n, float* partials,
                                                                  bool vec) {
  __shared__ float scratch[32];
  const float ident = kMax ? -INFINITY : 0.0f;
  float acc = ident;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t done = 0;
  if (vec) {
    const std::int64_t npacks = n / kPack;
    for (std::int64_t p = start; p < npacks; p += stride) {
      const Pack<T> v = load_pack(x + p * kPack);
#pragma unroll
      for (int k = 0; k < kPack; ++k) acc = combine<kMax>(acc, to_float(v.v[k]));
    }
    done = npacks * kPack;
  }
  for (std::int64_t i = done + start; i < n; i += stride) acc = combine<kMax>(acc, to_float(x[i]));
  acc = block_reduce<kMax>(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <bool kMax>
__global__ void __launch_bounds__(kThreads) reduce_final_kernel(const float* partials, int count, float* out) {
  __shared__ float scratch[32];
  float acc = kMax ? -INFINITY : 0.0f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc = combine<kMax>(acc, partials[i]);
  acc = block_reduce<kMax>(acc, scratch);
  if (threadIdx.x == 0) *out = acc;
}

// One warp per row: rows with cols <= 1024.
template <typename T, bool kMax>
__global__ void __launch_bounds__(kThreads) reduce_rows_warp_kernel(const T* x, std::int64_t rows,
                                                                    std::int64_t cols, float* out) {
  const int lane = threadIdx.x & 31;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x / 32);
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
       r += warps) {
    const T* row = x + r * cols;
    float acc = kMax ? -INFINITY : 0.0f;
    for (std::int64_t c = lane; c < cols; c += 32) acc = combine<kMax>(acc, to_float(row[c]));
    acc = kMax ? warp_max(acc) : warp_sum(acc);
    if (lane == 0) out[r] = acc;
  }
}

// One block per row: long rows.
template <typename T, bool kMax>
__global__ void __launch_bounds__(kThreads) reduce_rows_block_kernel(const T* x, std::int64_t rows,
                                                                     std::int64_t cols, float* out) {
  __shared__ float scratch[32];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * cols;
    float acc = kMax ? -INFINITY : 0.0f;
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) acc = combine<kMax>(acc, to_float(row[c]));
    acc = block_reduce<kMax>(acc, scratch);
    if (threadIdx.x == 0) out[r] = acc;
  }
}

template <typename T>
void launch_all(ReduceOp op, const T* x, std::int64_t n, float* out, void* ws, cudaStream_t s) {
  if (n < 0) throw ValueError(detail::make_message("reduce_all: n must be >= 0, got ", n));
  if (!out || (n > 0 && !x) || !ws) throw ValueError("reduce_all: null pointer argument");
  const bool vec = is_aligned(x, 16);
  const int blocks = static_cast<int>(std::min<std::int64_t>(grid_for(vec ? n / kPack + 1 : n, kThreads), kMaxPartials));
  float* partials = static_cast<float*>(ws);
  if (op == ReduceOp::max) {
    reduce_partial_kernel<T, true><<<blocks, kThreads, 0, s>>>(x, n, partials, vec);
    reduce_final_kernel<true><<<1, kThreads, 0, s>>>(partials, blocks, out);
  } else {
    reduce_partial_kernel<T, false><<<blocks, kThreads, 0, s>>>(x, n, partials, vec);
    reduce_final_kernel<false><<<1, kThreads, 0, s>>>(partials, blocks, out);
  }
  check_launch("reduce_all", s);
}

template <typename T>
void launch_rows(ReduceOp op, const T* x, std::int64_t rows, std::int64_t cols, float* out, cudaStream_t s) {
  if (rows < 0 || cols < 0)
    throw ValueError(detail::make_message("reduce_lastdim: rows and cols must be >= 0, got ", rows, "x", cols));
  if (rows == 0) return;
  if (!out || (cols > 0 && !x)) throw ValueError("reduce_lastdim: null pointer argument");
  const bool mx = op == ReduceOp::max;
  if (cols <= 1024) {
    const unsigned grid = grid_for(rows, kThreads / 32);
    if (mx)
      reduce_rows_warp_kernel<T, true><<<grid, kThreads, 0, s>>>(x, rows, cols, out);
    else
      reduce_rows_warp_kernel<T, false><<<grid, kThreads, 0, s>>>(x, rows, cols, out);
  } else {
    const unsigned grid = static_cast<unsigned>(std::min<std::int64_t>(rows, 65535));
    if (mx)
      reduce_rows_block_kernel<T, true><<<grid, kThreads, 0, s>>>(x, rows, cols, out);
    else
      reduce_rows_block_kernel<T, false><<<grid, kThreads, 0, s>>>(x, rows, cols, out);
  }
  check_launch("reduce_lastdim", s);
}

}  // namespace

std::size_t reduce_all_workspace_bytes(std::int64_t) { return kMaxPartials * sizeof(float); }

void reduce_all(ReduceOp op, const float* x, std::int64_t n, float* out, void* ws, cudaStream_t s) { launch_all(op, x, n, out, ws, s); }
void reduce_all(ReduceOp op, const half* x, std::int64_t n, float* out, void* ws, cudaStream_t s) { launch_all(op, x, n, out, ws, s); }
void reduce_lastdim(ReduceOp op, const float* x, std::int64_t r, std::int64_t c, float* out, cudaStream_t s) { launch_rows(op, x, r, c, out, s); }
void reduce_lastdim(ReduceOp op, const half* x, std::int64_t r, std::int64_t c, float* out, cudaStream_t s) { launch_rows(op, x, r, c, out, s); }

}  // namespace tilenet::kernels
