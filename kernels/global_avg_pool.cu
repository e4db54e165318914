// Global average pooling on NHWC: y[n, c] = mean over the H*W positions of x[n, :, c], and its
// backward (dx = dy / (H*W) broadcast). Forward blocks of 32 channel vectors x 8 row groups
// reduce through shared memory; V channels per thread (8, 4, 2 or 1: the widest that divides C
// and keeps every pointer aligned). Arithmetic in float. Not measured on a GPU yet.
#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/launch.h"
#include "kernels/pool2d.h"
#include "kernels/vector_access.cuh"

namespace tilenet::kernels {
namespace {

// y[n, c] = mean over i of x[n, i, c]. Block (32, 8): x walks channel vectors, y row groups;
// grid.y strides over the images (grid.y <= 65535, any batch).
template <typename T, int V>
__global__ void __launch_bounds__(256) global_avg_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                                                 std::int64_t n, std::int64_t hw, std::int64_t c) {
  __shared__ float part[8][32][V + 1];
  const std::int64_t cvi = static_cast<std::int64_t>(blockIdx.x) * 32 + threadIdx.x;
  const bool active = cvi * V < c;
  const float inv = 1.0f / static_cast<float>(hw);
  for (std::int64_t img = blockIdx.y; img < n; img += gridDim.y) {
    const T* xn = x + img * hw * c + cvi * V;
    float acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = 0.0f;
    if (active)
      for (std::int64_t i = threadIdx.y; i < hw; i += 8) {
        float v[V];
        load_floats<T, V>(xn + i * c, v);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += v[k];
      }
#pragma unroll
    for (int k = 0; k < V; ++k) part[threadIdx.y][threadIdx.x][k] = acc[k];
    __syncthreads();
    if (threadIdx.y == 0 && active) {
      float out[V];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        float sum = 0.0f;
        for (int g = 0; g < 8; ++g) sum += part[g][threadIdx.x][k];
        out[k] = sum * inv;
      }
      store_floats<T, V>(y + img * c + cvi * V, out);
    }
    __syncthreads();  // part[] is rewritten for the next image
  }
}

template <typename T, int V>
__global__ void __launch_bounds__(256) global_avg_backward_kernel(const T* __restrict__ dy, T* __restrict__ dx,
                                                                  std::int64_t n, std::int64_t hw, std::int64_t c) {
  const std::int64_t cv = c / V, total = n * hw * cv;
  const float inv = 1.0f / static_cast<float>(hw);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t cvi = i % cv, img = i / cv / hw;
    float g[V];
    load_floats<T, V>(dy + img * c + cvi * V, g);
#pragma unroll
    for (int k = 0; k < V; ++k) g[k] *= inv;
    store_floats<T, V>(dx + i * V, g);
  }
}

void check_global(const char* op, std::int64_t n, std::int64_t hw, std::int64_t c) {
  TILENET_CHECK(n >= 1 && hw >= 1 && c >= 1, ShapeError, op, ": extents must be >= 1, got N=", n, " HW=", hw, " C=", c);
}

// The checks, vector width and launch check both directions share; launch(vc) launches with
// V = vc's value channels per thread (in: x or dy, out: y or dx).
template <typename T, typename Launch>
void gap_launch(const char* op, const T* in, T* out, std::int64_t n, std::int64_t hw, std::int64_t c, cudaStream_t s,
                Launch&& launch) {
  check_global(op, n, hw, c);
  check_not_null(op, {in, out});
  with_vec(pick_vec(c, sizeof(T), {in, out}), launch);
  check_launch(op, s);
}

template <typename T>
void gap_forward(const T* x, T* y, std::int64_t n, std::int64_t hw, std::int64_t c, cudaStream_t s) {
  gap_launch("global_avg_pool_forward", x, y, n, hw, c, s, [&](auto vc) {
    constexpr int V = decltype(vc)::value;
    const dim3 grid(static_cast<unsigned>(ceil_div<std::int64_t>(c / V, 32)),
                    static_cast<unsigned>(std::min<std::int64_t>(n, 65535)));
    global_avg_forward_kernel<T, V><<<grid, dim3(32, 8), 0, s>>>(x, y, n, hw, c);
  });
}

template <typename T>
void gap_backward(const T* dy, T* dx, std::int64_t n, std::int64_t hw, std::int64_t c, cudaStream_t s) {
  gap_launch("global_avg_pool_backward", dy, dx, n, hw, c, s, [&](auto vc) {
    constexpr int V = decltype(vc)::value;
    global_avg_backward_kernel<T, V><<<grid_for(n * hw * (c / V), 256), 256, 0, s>>>(dy, dx, n, hw, c);
  });
}

}  // namespace

#define TILENET_GAP_CUDA(T)                                                                                       \
  void global_avg_pool_forward(const T* x, T* y, std::int64_t n, std::int64_t hw, std::int64_t c, cudaStream_t s) { \
    gap_forward(x, y, n, hw, c, s);                                                                               \
  }                                                                                                               \
  void global_avg_pool_backward(const T* dy, T* dx, std::int64_t n, std::int64_t hw, std::int64_t c,             \
                                cudaStream_t s) {                                                                 \
    gap_backward(dy, dx, n, hw, c, s);                                                                            \
  }

TILENET_GAP_CUDA(float)
TILENET_GAP_CUDA(half)
#undef TILENET_GAP_CUDA

}  // namespace tilenet::kernels
