// Pooling on NHWC. One block per output row (n, p) for the forward passes and per input row
// (n, h) for the backward passes; its threads walk (column, channel vector) with V channels per
// thread (V = 8, 4, 2 or 1: the widest that divides C and keeps every pointer aligned), so a warp
// reads contiguous 16-byte words along C. Forward: each thread scans its window (overlapping
// windows re-read neighbours from L1/L2, not DRAM); 3x3 and 2x2 windows are unrolled at compile
// time so all their loads are in flight at once. Backward gathers: an input element visits the
// few outputs whose windows cover it (at most ceil(R/stride) x ceil(S/stride); unrolled for up to
// 2 x 2) in a fixed order and sums what is routed to it: deterministic, no atomics. Max backward
// compares the stored argmax with its own position. Arithmetic in float.
// Global average pooling: kernels/global_avg_pool.cu.
// Measured (H100, 2026-11-23, bench_cnn_ops, before the compile-time windows): 128x55x55x64 3x3/2
// forward 0.74 (f32) / 0.50 (f16) of the device copy bandwidth, backward 0.79 / 0.50; cuDNN
// 0.49 / 0.47 forward. The unrolled windows are not measured yet.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "kernels/launch.h"
#include "kernels/pool2d.h"
#include "kernels/vector_access.cuh"

namespace tilenet::kernels {
namespace {

constexpr int kMaxThreads = 256;

// Threads for a block that walks `items` per row: a warp multiple, at most kMaxThreads.
int row_threads(std::int64_t items) {
  const std::int64_t t = ceil_div<std::int64_t>(items, 32) * 32;
  return static_cast<int>(t < 32 ? 32 : (t > kMaxThreads ? kMaxThreads : t));
}

// Outputs [lo, hi] along one axis whose windows (extent k, stride s, leading pad) cover input i.
__device__ __forceinline__ void covering(int i, int pad, int k, int s, int outs, int& lo, int& hi) {
  const int num = i + pad - k + 1;  // first output start <= i must satisfy o*s - pad + k - 1 >= i
  lo = num <= 0 ? 0 : (num + s - 1) / s;
  hi = (i + pad) / s;
  if (hi > outs - 1) hi = outs - 1;
}

// Folds one window element into the running max (first maximum wins; a NaN wins over numbers
// and stays: the reference's rule) or sum.
template <int V, bool kMax>
__device__ __forceinline__ void fold(float (&acc)[V], int (&arg)[V], const float (&v)[V], int pos) {
#pragma unroll
  for (int k = 0; k < V; ++k) {
    if constexpr (kMax) {
      if (arg[k] < 0 || v[k] > acc[k] || (isnan(v[k]) && !isnan(acc[k]))) acc[k] = v[k], arg[k] = pos;
    } else {
      acc[k] += v[k];
    }
  }
}

// KR x KS > 0: the window size is known at compile time, so every element's load is issued before
// the first is folded (9 loads in flight per thread for 3x3); 0: any window, element by element.
template <typename T, int V, bool kMax, int KR, int KS>
__global__ void __launch_bounds__(kMaxThreads) pool_forward_kernel(Pool2dShape sh, int P, int Q, const T* __restrict__ x,
                                                                   T* __restrict__ y, std::int32_t* __restrict__ indices) {
  const int n = blockIdx.x / P, p = blockIdx.x % P;
  const int cv = sh.c / V;
  const int hs = p * sh.stride_h - sh.pad_top;
  const int h0 = max(hs, 0), h1 = min(hs + sh.r, sh.h);
  const T* xn = x + static_cast<std::int64_t>(n) * sh.h * sh.w * sh.c;
  const std::int64_t orow = (static_cast<std::int64_t>(n) * P + p) * Q * sh.c;
  for (int j = threadIdx.x; j < Q * cv; j += blockDim.x) {
    const int q = j / cv, c = (j - q * cv) * V;
    const int ws = q * sh.stride_w - sh.pad_left;
    const int w0 = max(ws, 0), w1 = min(ws + sh.s, sh.w);
    float acc[V];
    int arg[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = kMax ? -INFINITY : 0.0f, arg[k] = -1;
    if constexpr (KR > 0) {
      Vec<T, V> raw[KR][KS];
#pragma unroll
      for (int a = 0; a < KR; ++a)
#pragma unroll
        for (int b = 0; b < KS; ++b)
          if (hs + a >= h0 && hs + a < h1 && ws + b >= w0 && ws + b < w1)
            raw[a][b] = load_vec<T, V>(xn + (static_cast<std::int64_t>(hs + a) * sh.w + ws + b) * sh.c + c);
#pragma unroll
      for (int a = 0; a < KR; ++a)
#pragma unroll
        for (int b = 0; b < KS; ++b)
          if (hs + a >= h0 && hs + a < h1 && ws + b >= w0 && ws + b < w1) {
            float v[V];
#pragma unroll
            for (int k = 0; k < V; ++k) v[k] = to_float(raw[a][b].v[k]);
            fold<V, kMax>(acc, arg, v, (hs + a) * sh.w + ws + b);
          }
    } else {
      for (int h = h0; h < h1; ++h)
        for (int w = w0; w < w1; ++w) {
          float v[V];
          load_floats<T, V>(xn + (static_cast<std::int64_t>(h) * sh.w + w) * sh.c + c, v);
          fold<V, kMax>(acc, arg, v, h * sh.w + w);
        }
    }
    const std::int64_t o = orow + static_cast<std::int64_t>(q) * sh.c + c;
    if constexpr (!kMax) {
      const float count = static_cast<float>((h1 - h0) * (w1 - w0));
#pragma unroll
      for (int k = 0; k < V; ++k) acc[k] = acc[k] / count;
    }
    store_floats<T, V>(y + o, acc);
    if (kMax && indices) {
      Vec<std::int32_t, V> iv;
#pragma unroll
      for (int k = 0; k < V; ++k) iv.v[k] = arg[k];
      store_vec<std::int32_t, V>(indices + o, iv);
    }
  }
}

// MP x MQ > 0: at most MP x MQ outputs cover an input (ceil(R / stride) per axis), known at
// compile time, so their loads are all in flight together; 0: any geometry.
template <typename T, int V, bool kMax, int MP, int MQ>
__global__ void __launch_bounds__(kMaxThreads) pool_backward_kernel(Pool2dShape sh, int P, int Q, const T* __restrict__ dy,
                                                                    const std::int32_t* __restrict__ indices,
                                                                    T* __restrict__ dx) {
  const int n = blockIdx.x / sh.h, h = blockIdx.x % sh.h;
  const int cv = sh.c / V;
  int p0, p1;
  covering(h, sh.pad_top, sh.r, sh.stride_h, P, p0, p1);
  const std::int64_t obase = static_cast<std::int64_t>(n) * P * Q * sh.c;
  const std::int64_t irow = (static_cast<std::int64_t>(n) * sh.h + h) * sh.w * sh.c;
  for (int j = threadIdx.x; j < sh.w * cv; j += blockDim.x) {
    const int w = j / cv, c = (j - w * cv) * V;
    int q0, q1;
    covering(w, sh.pad_left, sh.s, sh.stride_w, Q, q0, q1);
    float acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = 0.0f;
    const int self = h * sh.w + w;
    // Adds output (p, q)'s share, given its dy and (max) argmax vectors.
    auto add = [&](int p, int q, const Vec<T, V>& g, const Vec<std::int32_t, V>& iv) {
      if constexpr (kMax) {
#pragma unroll
        for (int k = 0; k < V; ++k)
          if (iv.v[k] == self) acc[k] += to_float(g.v[k]);
      } else {
        const int hs = p * sh.stride_h - sh.pad_top, ws = q * sh.stride_w - sh.pad_left;
        const int count = (min(hs + sh.r, sh.h) - max(hs, 0)) * (min(ws + sh.s, sh.w) - max(ws, 0));
        const float inv = 1.0f / static_cast<float>(count);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += to_float(g.v[k]) * inv;
      }
    };
    auto at = [&](int p, int q) { return obase + (static_cast<std::int64_t>(p) * Q + q) * sh.c + c; };
    if constexpr (MP > 0) {
      Vec<T, V> g[MP][MQ];
      Vec<std::int32_t, kMax ? V : 1> iv[MP][MQ];
#pragma unroll
      for (int a = 0; a < MP; ++a)
#pragma unroll
        for (int b = 0; b < MQ; ++b)
          if (p0 + a <= p1 && q0 + b <= q1) {
            g[a][b] = load_vec<T, V>(dy + at(p0 + a, q0 + b));
            if constexpr (kMax) iv[a][b] = load_vec<std::int32_t, V>(indices + at(p0 + a, q0 + b));
          }
#pragma unroll
      for (int a = 0; a < MP; ++a)
#pragma unroll
        for (int b = 0; b < MQ; ++b)
          if (p0 + a <= p1 && q0 + b <= q1) {
            if constexpr (kMax)
              add(p0 + a, q0 + b, g[a][b], iv[a][b]);
            else
              add(p0 + a, q0 + b, g[a][b], Vec<std::int32_t, V>{});
          }
    } else {
      for (int p = p0; p <= p1; ++p)
        for (int q = q0; q <= q1; ++q) {
          const Vec<T, V> gv = load_vec<T, V>(dy + at(p, q));
          if constexpr (kMax)
            add(p, q, gv, load_vec<std::int32_t, V>(indices + at(p, q)));
          else
            add(p, q, gv, Vec<std::int32_t, V>{});
        }
    }
    store_floats<T, V>(dx + irow + static_cast<std::int64_t>(w) * sh.c + c, acc);
  }
}

// The widest vector the data pointers (T) and the argmax indices (int32, when present) allow.
template <typename T>
int pool_vec(std::int64_t c, std::initializer_list<const void*> data, const std::int32_t* idx) {
  return std::min(pick_vec(c, sizeof(T), data), pick_vec(c, 4, {idx}));
}

template <typename T>
void forward(const char* op, bool is_max, const Pool2dShape& sh, const T* x, T* y, std::int32_t* idx, cudaStream_t s) {
  check_pool2d_shape(sh, op);
  check_not_null(op, {x, y});
  const int P = sh.p(), Q = sh.q();
  TILENET_CHECK(static_cast<std::int64_t>(sh.n) * P <= INT32_MAX && static_cast<std::int64_t>(Q) * sh.c <= INT32_MAX,
                ShapeError, op, ": n*p = ", static_cast<std::int64_t>(sh.n) * P, " and q*c = ",
                static_cast<std::int64_t>(Q) * sh.c, " must each fit in int32");
  const int v = pool_vec<T>(sh.c, {x, y}, idx);
  with_vec(v, [&](auto vc) {
    constexpr int V = decltype(vc)::value;
    const int threads = row_threads(static_cast<std::int64_t>(Q) * (sh.c / V));
    auto go = [&](auto kr, auto ks) {
      constexpr int KR = decltype(kr)::value, KS = decltype(ks)::value;
      if (is_max)
        pool_forward_kernel<T, V, true, KR, KS><<<sh.n * P, threads, 0, s>>>(sh, P, Q, x, y, idx);
      else
        pool_forward_kernel<T, V, false, KR, KS><<<sh.n * P, threads, 0, s>>>(sh, P, Q, x, y, nullptr);
    };
    using I0 = std::integral_constant<int, 0>;
    using I2 = std::integral_constant<int, 2>;
    using I3 = std::integral_constant<int, 3>;
    if (sh.r == 3 && sh.s == 3)
      go(I3{}, I3{});
    else if (sh.r == 2 && sh.s == 2)
      go(I2{}, I2{});
    else
      go(I0{}, I0{});
  });
  check_launch(op, s);
}

template <typename T>
void backward(const char* op, bool is_max, const Pool2dShape& sh, const T* dy, const std::int32_t* idx, T* dx,
              cudaStream_t s) {
  check_pool2d_shape(sh, op);
  check_not_null(op, {dy, dx});
  if (is_max) check_not_null(op, {idx});
  const int P = sh.p(), Q = sh.q();
  TILENET_CHECK(static_cast<std::int64_t>(sh.n) * sh.h <= INT32_MAX && static_cast<std::int64_t>(sh.w) * sh.c <= INT32_MAX,
                ShapeError, op, ": n*h = ", static_cast<std::int64_t>(sh.n) * sh.h, " and w*c = ",
                static_cast<std::int64_t>(sh.w) * sh.c, " must each fit in int32");
  const int v = pool_vec<T>(sh.c, {dy, dx}, idx);
  with_vec(v, [&](auto vc) {
    constexpr int V = decltype(vc)::value;
    const int threads = row_threads(static_cast<std::int64_t>(sh.w) * (sh.c / V));
    auto go = [&](auto mp, auto mq) {
      constexpr int MP = decltype(mp)::value, MQ = decltype(mq)::value;
      if (is_max)
        pool_backward_kernel<T, V, true, MP, MQ><<<sh.n * sh.h, threads, 0, s>>>(sh, P, Q, dy, idx, dx);
      else
        pool_backward_kernel<T, V, false, MP, MQ><<<sh.n * sh.h, threads, 0, s>>>(sh, P, Q, dy, nullptr, dx);
    };
    // Outputs covering one input along an axis: at most ceil(window / stride).
    const int mp = ceil_div(sh.r, sh.stride_h), mq = ceil_div(sh.s, sh.stride_w);
    if (mp <= 1 && mq <= 1)
      go(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{});
    else if (mp <= 2 && mq <= 2)
      go(std::integral_constant<int, 2>{}, std::integral_constant<int, 2>{});
    else
      go(std::integral_constant<int, 0>{}, std::integral_constant<int, 0>{});
  });
  check_launch(op, s);
}

}  // namespace

#define TILENET_POOL_CUDA(T)                                                                                      \
  void max_pool2d_forward(const Pool2dShape& sh, const T* x, T* y, std::int32_t* idx, cudaStream_t s) {          \
    forward("max_pool2d_forward", true, sh, x, y, idx, s);                                                       \
  }                                                                                                               \
  void max_pool2d_backward(const Pool2dShape& sh, const T* dy, const std::int32_t* idx, T* dx, cudaStream_t s) { \
    backward("max_pool2d_backward", true, sh, dy, idx, dx, s);                                                   \
  }                                                                                                               \
  void avg_pool2d_forward(const Pool2dShape& sh, const T* x, T* y, cudaStream_t s) {                             \
    forward("avg_pool2d_forward", false, sh, x, y, static_cast<std::int32_t*>(nullptr), s);                      \
  }                                                                                                               \
  void avg_pool2d_backward(const Pool2dShape& sh, const T* dy, T* dx, cudaStream_t s) {                          \
    backward("avg_pool2d_backward", false, sh, dy, static_cast<const std::int32_t*>(nullptr), dx, s);            \
  }

TILENET_POOL_CUDA(float)
TILENET_POOL_CUDA(half)
#undef TILENET_POOL_CUDA

}  // namespace tilenet::kernels
