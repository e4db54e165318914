// Elementwise kernels. Memory-bound: each thread moves 8 elements per step with 16-byte accesses
// when every operand is 16-byte aligned, else one element per step; a grid-stride loop covers any
// n with a grid sized to the device (kernels/launch.h grid_for). Half storage computes in float and
// rounds once, as the CPU references do, so results match them bit for bit.
#include <cuda_fp16.h>

#include "kernels/cuda_utils.cuh"
#include "kernels/elementwise.h"
#include "kernels/launch.h"

namespace tilenet {
namespace detail {
__global__ void probe_kernel() {}
// Reports whether this build has a kernel image the device can run (see tensor/device.cpp).
cudaError_t probe_kernel_image(int device) {
  int prev = 0;
  cudaError_t e = cudaGetDevice(&prev);
  if (e != cudaSuccess) return e;
  if (prev != device && (e = cudaSetDevice(device)) != cudaSuccess) return e;
  cudaFuncAttributes attr;
  e = cudaFuncGetAttributes(&attr, probe_kernel);
  if (prev != device) cudaSetDevice(prev);
  return e;
}
}  // namespace detail

namespace kernels {
namespace {

constexpr int kThreads = 256;

// y[i] = f(x[i]) for arbitrary input/output element types.
template <typename Tin, typename Tout, typename F>
__global__ void __launch_bounds__(kThreads) map1_kernel(const Tin* x, Tout* y, std::int64_t n, F f,
                                                        bool vec) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t done = 0;
  if (vec) {
    const std::int64_t npacks = n / kPack;
    for (std::int64_t p = start; p < npacks; p += stride) {
      const Pack<Tin> a = load_pack(x + p * kPack);
      Pack<Tout> r;
#pragma unroll
      for (int k = 0; k < kPack; ++k) r.v[k] = from_float<Tout>(f(to_float(a.v[k])));
      store_pack(y + p * kPack, r);
    }
    done = npacks * kPack;
  }
  for (std::int64_t i = done + start; i < n; i += stride) y[i] = from_float<Tout>(f(to_float(x[i])));
}

// out[i] = f(a[i], b[i])
template <typename T, typename F>
__global__ void __launch_bounds__(kThreads) map2_kernel(const T* a, const T* b, T* out, std::int64_t n,
                                                        F f, bool vec) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t done = 0;
  if (vec) {
    const std::int64_t npacks = n / kPack;
    for (std::int64_t p = start; p < npacks; p += stride) {
      const Pack<T> va = load_pack(a + p * kPack);
      const Pack<T> vb = load_pack(b + p * kPack);
      Pack<T> r;
#pragma unroll
      for (int k = 0; k < kPack; ++k) r.v[k] = from_float<T>(f(to_float(va.v[k]), to_float(vb.v[k])));
      store_pack(out + p * kPack, r);
    }
    done = npacks * kPack;
  }
  for (std::int64_t i = done + start; i < n; i += stride)
    out[i] = from_float<T>(f(to_float(a[i]), to_float(b[i])));
}

// out[r, c] = x[r, c] + bias[c]; the vector path needs cols % kPack == 0 and aligned pointers.
template <typename T>
__global__ void __launch_bounds__(kThreads) add_bias_kernel(const T* x, const T* bias, T* out,
                                                            std::int64_t rows, std::int64_t cols,
                                                            bool vec) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t n = rows * cols;
  if (vec) {
    const std::int64_t npacks = n / kPack;
    for (std::int64_t p = start; p < npacks; p += stride) {
      const std::int64_t c0 = (p * kPack) % cols;
      const Pack<T> vx = load_pack(x + p * kPack);
      const Pack<T> vb = load_pack(bias + c0);
      Pack<T> r;
#pragma unroll
      for (int k = 0; k < kPack; ++k) r.v[k] = from_float<T>(to_float(vx.v[k]) + to_float(vb.v[k]));
      store_pack(out + p * kPack, r);
    }
    return;
  }
  for (std::int64_t i = start; i < n; i += stride)
    out[i] = from_float<T>(to_float(x[i]) + to_float(bias[i % cols]));
}

struct FillOp {
  float v;
  __device__ float operator()(float) const { return v; }
};
struct IdentityOp {
  __device__ float operator()(float x) const { return x; }
};
struct ScaleOp {
  float alpha;
  __device__ float operator()(float x) const { return alpha * x; }
};
struct ReluOp {
  __device__ float operator()(float x) const { return relu_keep_nan(x); }
};
struct AxpyOp {  // out = a + alpha * b, with a = y, b = x
  float alpha;
  __device__ float operator()(float y, float x) const { return __fmaf_rn(alpha, x, y); }
};
struct ReluBackwardOp {  // out = dy if x > 0
  __device__ float operator()(float dy, float x) const { return x > 0.0f ? dy : 0.0f; }
};
template <BinaryOp Op>
struct BinOp {
  __device__ float operator()(float a, float b) const {
    if constexpr (Op == BinaryOp::add) return a + b;
    if constexpr (Op == BinaryOp::sub) return a - b;
    if constexpr (Op == BinaryOp::mul) return a * b;
    return a / b;
  }
};

void check_n(const char* op, std::int64_t n) {
  if (n < 0) throw ValueError(detail::make_message(op, ": element count must be >= 0, got ", n));
}
void check_ptr(const char* op, const void* p, const char* name, std::int64_t n) {
  if (n > 0 && p == nullptr)
    throw ValueError(detail::make_message(op, ": ", name, " is null for ", n, " elements"));
}

template <typename Tin, typename Tout, typename F>
void launch_map1(const char* op, const Tin* x, Tout* y, std::int64_t n, F f, cudaStream_t s) {
  check_n(op, n);
  check_ptr(op, x, "input", n);
  check_ptr(op, y, "output", n);
  if (n == 0) return;
  const bool vec = is_aligned(x, 16) && is_aligned(y, 16);
  map1_kernel<<<grid_for(vec ? n / kPack + 1 : n, kThreads), kThreads, 0, s>>>(x, y, n, f, vec);
  check_launch(op, s);
}

template <typename T, typename F>
void launch_map2(const char* op, const T* a, const T* b, T* out, std::int64_t n, F f, cudaStream_t s) {
  check_n(op, n);
  check_ptr(op, a, "a", n);
  check_ptr(op, b, "b", n);
  check_ptr(op, out, "out", n);
  if (n == 0) return;
  const bool vec = is_aligned(a, 16) && is_aligned(b, 16) && is_aligned(out, 16);
  map2_kernel<<<grid_for(vec ? n / kPack + 1 : n, kThreads), kThreads, 0, s>>>(a, b, out, n, f, vec);
  check_launch(op, s);
}

template <typename T>
void launch_fill(T* y, std::int64_t n, float value, cudaStream_t s) {
  // The input pointer is never read by FillOp; pass y so alignment matches.
  launch_map1<T, T>("fill", y, y, n, FillOp{value}, s);
}

template <typename T>
void launch_binary(BinaryOp op, const T* a, const T* b, T* out, std::int64_t n, cudaStream_t s) {
  switch (op) {
    case BinaryOp::add: return launch_map2("add", a, b, out, n, BinOp<BinaryOp::add>{}, s);
    case BinaryOp::sub: return launch_map2("sub", a, b, out, n, BinOp<BinaryOp::sub>{}, s);
    case BinaryOp::mul: return launch_map2("mul", a, b, out, n, BinOp<BinaryOp::mul>{}, s);
    case BinaryOp::div: return launch_map2("div", a, b, out, n, BinOp<BinaryOp::div>{}, s);
  }
  throw ValueError("binary: unknown BinaryOp");
}

template <typename T>
void launch_add_bias(const T* x, const T* bias, T* out, std::int64_t rows, std::int64_t cols,
                     cudaStream_t s) {
  if (rows < 0 || cols < 0)
    throw ValueError(detail::make_message("add_bias: rows and cols must be >= 0, got ", rows, "x", cols));
  const std::int64_t n = rows * cols;
  check_ptr("add_bias", x, "x", n);
  check_ptr("add_bias", bias, "bias", n);
  check_ptr("add_bias", out, "out", n);
  if (n == 0) return;
  const bool vec = cols % kPack == 0 && is_aligned(x, 16) && is_aligned(bias, 16) && is_aligned(out, 16);
  add_bias_kernel<<<grid_for(vec ? n / kPack : n, kThreads), kThreads, 0, s>>>(x, bias, out, rows, cols, vec);
  check_launch("add_bias", s);
}

}  // namespace

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
  }
  return "?";
}

void fill(float* y, std::int64_t n, float v, cudaStream_t s) { launch_fill(y, n, v, s); }
void fill(half* y, std::int64_t n, float v, cudaStream_t s) { launch_fill(y, n, v, s); }
void cast(const float* x, half* y, std::int64_t n, cudaStream_t s) { launch_map1("cast", x, y, n, IdentityOp{}, s); }
void cast(const half* x, float* y, std::int64_t n, cudaStream_t s) { launch_map1("cast", x, y, n, IdentityOp{}, s); }
void scale(const float* x, float* y, std::int64_t n, float a, cudaStream_t s) { launch_map1("scale", x, y, n, ScaleOp{a}, s); }
void scale(const half* x, half* y, std::int64_t n, float a, cudaStream_t s) { launch_map1("scale", x, y, n, ScaleOp{a}, s); }
void axpy(float a, const float* x, float* y, std::int64_t n, cudaStream_t s) { launch_map2("axpy", y, x, y, n, AxpyOp{a}, s); }
void axpy(float a, const half* x, half* y, std::int64_t n, cudaStream_t s) { launch_map2("axpy", y, x, y, n, AxpyOp{a}, s); }
void binary(BinaryOp op, const float* a, const float* b, float* o, std::int64_t n, cudaStream_t s) { launch_binary(op, a, b, o, n, s); }
void binary(BinaryOp op, const half* a, const half* b, half* o, std::int64_t n, cudaStream_t s) { launch_binary(op, a, b, o, n, s); }
void add_bias(const float* x, const float* b, float* o, std::int64_t r, std::int64_t c, cudaStream_t s) { launch_add_bias(x, b, o, r, c, s); }
void add_bias(const half* x, const half* b, half* o, std::int64_t r, std::int64_t c, cudaStream_t s) { launch_add_bias(x, b, o, r, c, s); }
void relu(const float* x, float* y, std::int64_t n, cudaStream_t s) { launch_map1("relu", x, y, n, ReluOp{}, s); }
void relu(const half* x, half* y, std::int64_t n, cudaStream_t s) { launch_map1("relu", x, y, n, ReluOp{}, s); }
void relu_backward(const float* dy, const float* x, float* dx, std::int64_t n, cudaStream_t s) { launch_map2("relu_backward", dy, x, dx, n, ReluBackwardOp{}, s); }
void relu_backward(const half* dy, const half* x, half* dx, std::int64_t n, cudaStream_t s) { launch_map2("relu_backward", dy, x, dx, n, ReluBackwardOp{}, s); }

}  // namespace kernels
}  // namespace tilenet
