// CPU references for kernels/elementwise.h: plain loops; half computes in float and rounds once.
#include <cmath>

#include "kernels/elementwise.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {

inline float ld(float v) { return v; }
inline float ld(half v) { return half_to_float(v); }
template <typename T>
inline T st(float v);
template <>
inline float st<float>(float v) { return v; }
template <>
inline half st<half>(float v) { return float_to_half(v); }

template <typename T>
float apply(BinaryOp op, T a, T b) {
  const float x = ld(a), y = ld(b);
  switch (op) {
    case BinaryOp::add: return x + y;
    case BinaryOp::sub: return x - y;
    case BinaryOp::mul: return x * y;
    case BinaryOp::div: return x / y;
  }
  throw ValueError("binary_ref: unknown BinaryOp");
}

template <typename T>
void fill_t(T* y, std::int64_t n, float v) {
  const T h = st<T>(v);
  for (std::int64_t i = 0; i < n; ++i) y[i] = h;
}
template <typename T>
void scale_t(const T* x, T* y, std::int64_t n, float a) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = st<T>(a * ld(x[i]));
}
template <typename T>
void axpy_t(float a, const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = st<T>(std::fma(a, ld(x[i]), ld(y[i])));
}
template <typename T>
void binary_t(BinaryOp op, const T* a, const T* b, T* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = st<T>(apply(op, a[i], b[i]));
}
template <typename T>
void add_bias_t(const T* x, const T* bias, T* out, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) out[r * cols + c] = st<T>(ld(x[r * cols + c]) + ld(bias[c]));
}
template <typename T>
void relu_t(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = ld(x[i]);
    y[i] = st<T>(v < 0.0f ? 0.0f : v);  // NaN stays NaN, as in PyTorch
  }
}
template <typename T>
void relu_backward_t(const T* dy, const T* x, T* dx, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] = st<T>(ld(x[i]) > 0.0f ? ld(dy[i]) : 0.0f);
}

}  // namespace

void fill_ref(float* y, std::int64_t n, float v) { fill_t(y, n, v); }
void fill_ref(half* y, std::int64_t n, float v) { fill_t(y, n, v); }
void cast_ref(const float* x, half* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = float_to_half(x[i]);
}
void cast_ref(const half* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = half_to_float(x[i]);
}
void scale_ref(const float* x, float* y, std::int64_t n, float a) { scale_t(x, y, n, a); }
void scale_ref(const half* x, half* y, std::int64_t n, float a) { scale_t(x, y, n, a); }
void axpy_ref(float a, const float* x, float* y, std::int64_t n) { axpy_t(a, x, y, n); }
void axpy_ref(float a, const half* x, half* y, std::int64_t n) { axpy_t(a, x, y, n); }
void binary_ref(BinaryOp op, const float* a, const float* b, float* o, std::int64_t n) { binary_t(op, a, b, o, n); }
void binary_ref(BinaryOp op, const half* a, const half* b, half* o, std::int64_t n) { binary_t(op, a, b, o, n); }
void add_bias_ref(const float* x, const float* b, float* o, std::int64_t r, std::int64_t c) { add_bias_t(x, b, o, r, c); }
void add_bias_ref(const half* x, const half* b, half* o, std::int64_t r, std::int64_t c) { add_bias_t(x, b, o, r, c); }
void relu_ref(const float* x, float* y, std::int64_t n) { relu_t(x, y, n); }
void relu_ref(const half* x, half* y, std::int64_t n) { relu_t(x, y, n); }
void relu_backward_ref(const float* dy, const float* x, float* dx, std::int64_t n) { relu_backward_t(dy, x, dx, n); }
void relu_backward_ref(const half* dy, const half* x, half* dx, std::int64_t n) { relu_backward_t(dy, x, dx, n); }

}  // namespace tilenet::kernels
