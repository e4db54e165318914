// CPU reference of kernels/conv2d.h: the plainest loops, accumulating in double. The oracle for
// every other convolution path (tests) and for the gradient checks (double overloads).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/conv2d.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {

inline double ld(double v) { return v; }
inline double ld(float v) { return v; }
inline double ld(half v) { return half_to_float(v); }
template <typename T>
T st(double v) {
  if constexpr (std::is_same_v<T, half>)
    return float_to_half(static_cast<float>(v));
  else
    return static_cast<T>(v);
}

// Calls f(n, p, q, h, w, r, s) for every output position and filter tap that reads an in-range
// input position (padding contributes nothing).
template <typename F>
void for_each_tap(const Conv2dShape& sh, F&& f) {
  const int P = sh.p(), Q = sh.q();
  for (int n = 0; n < sh.n; ++n)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q)
        for (int r = 0; r < sh.r; ++r) {
          const int h = p * sh.stride_h - sh.pad_top + r * sh.dilation_h;
          if (h < 0 || h >= sh.h) continue;
          for (int s = 0; s < sh.s; ++s) {
            const int w = q * sh.stride_w - sh.pad_left + s * sh.dilation_w;
            if (w < 0 || w >= sh.w) continue;
            f(n, p, q, h, w, r, s);
          }
        }
}

template <typename T>
void forward_t(const Conv2dShape& sh, const T* x, const T* w, const void* bias, bool bias_double, T* y,
               Activation act) {
  check_conv2d_shape(sh, "conv2d_forward_ref");
  const int P = sh.p(), Q = sh.q(), C = sh.c, K = sh.k;
  std::vector<double> acc(static_cast<std::size_t>(sh.y_elems()), 0.0);
  for_each_tap(sh, [&](int n, int p, int q, int h, int wi, int r, int s) {
    const T* xp = x + ((static_cast<std::int64_t>(n) * sh.h + h) * sh.w + wi) * C;
    double* yp = acc.data() + ((static_cast<std::int64_t>(n) * P + p) * Q + q) * K;
    for (int k = 0; k < K; ++k) {
      const T* wp = w + ((static_cast<std::int64_t>(k) * sh.r + r) * sh.s + s) * C;
      double d = 0;
      for (int c = 0; c < C; ++c) d += ld(xp[c]) * ld(wp[c]);
      yp[k] += d;
    }
  });
  for (std::int64_t i = 0; i < sh.y_elems(); ++i) {
    double v = acc[i];
    if (bias) v += bias_double ? static_cast<const double*>(bias)[i % K] : static_cast<const float*>(bias)[i % K];
    if (act == Activation::relu) v = std::max(v, 0.0);
    y[i] = st<T>(v);
  }
}

template <typename T>
void backward_data_t(const Conv2dShape& sh, const T* dy, const T* w, T* dx) {
  check_conv2d_shape(sh, "conv2d_backward_data_ref");
  const int P = sh.p(), Q = sh.q(), C = sh.c, K = sh.k;
  std::vector<double> acc(static_cast<std::size_t>(sh.x_elems()), 0.0);
  for_each_tap(sh, [&](int n, int p, int q, int h, int wi, int r, int s) {
    double* dxp = acc.data() + ((static_cast<std::int64_t>(n) * sh.h + h) * sh.w + wi) * C;
    const T* dyp = dy + ((static_cast<std::int64_t>(n) * P + p) * Q + q) * K;
    for (int k = 0; k < K; ++k) {
      const double g = ld(dyp[k]);
      const T* wp = w + ((static_cast<std::int64_t>(k) * sh.r + r) * sh.s + s) * C;
      for (int c = 0; c < C; ++c) dxp[c] += g * ld(wp[c]);
    }
  });
  for (std::int64_t i = 0; i < sh.x_elems(); ++i) dx[i] = st<T>(acc[i]);
}

template <typename T, typename TW>
void backward_filter_t(const Conv2dShape& sh, const T* x, const T* dy, TW* dw, bool accumulate) {
  check_conv2d_shape(sh, "conv2d_backward_filter_ref");
  const int P = sh.p(), Q = sh.q(), C = sh.c, K = sh.k;
  std::vector<double> acc(static_cast<std::size_t>(sh.w_elems()), 0.0);
  for_each_tap(sh, [&](int n, int p, int q, int h, int wi, int r, int s) {
    const T* xp = x + ((static_cast<std::int64_t>(n) * sh.h + h) * sh.w + wi) * C;
    const T* dyp = dy + ((static_cast<std::int64_t>(n) * P + p) * Q + q) * K;
    for (int k = 0; k < K; ++k) {
      const double g = ld(dyp[k]);
      double* dwp = acc.data() + ((static_cast<std::int64_t>(k) * sh.r + r) * sh.s + s) * C;
      for (int c = 0; c < C; ++c) dwp[c] += g * ld(xp[c]);
    }
  });
  for (std::int64_t i = 0; i < sh.w_elems(); ++i) dw[i] = st<TW>(acc[i] + (accumulate ? ld(dw[i]) : 0.0));
}

}  // namespace

void conv2d_forward_ref(const Conv2dShape& sh, const double* x, const double* w, const double* bias, double* y,
                        Activation act) {
  forward_t(sh, x, w, bias, true, y, act);
}
void conv2d_forward_ref(const Conv2dShape& sh, const float* x, const float* w, const float* bias, float* y,
                        Activation act) {
  forward_t(sh, x, w, bias, false, y, act);
}
void conv2d_forward_ref(const Conv2dShape& sh, const half* x, const half* w, const float* bias, half* y,
                        Activation act) {
  forward_t(sh, x, w, bias, false, y, act);
}
void conv2d_backward_data_ref(const Conv2dShape& sh, const double* dy, const double* w, double* dx) {
  backward_data_t(sh, dy, w, dx);
}
void conv2d_backward_data_ref(const Conv2dShape& sh, const float* dy, const float* w, float* dx) {
  backward_data_t(sh, dy, w, dx);
}
void conv2d_backward_data_ref(const Conv2dShape& sh, const half* dy, const half* w, half* dx) {
  backward_data_t(sh, dy, w, dx);
}
void conv2d_backward_filter_ref(const Conv2dShape& sh, const double* x, const double* dy, double* dw,
                                bool accumulate) {
  backward_filter_t(sh, x, dy, dw, accumulate);
}
void conv2d_backward_filter_ref(const Conv2dShape& sh, const float* x, const float* dy, float* dw,
                                bool accumulate) {
  backward_filter_t(sh, x, dy, dw, accumulate);
}
void conv2d_backward_filter_ref(const Conv2dShape& sh, const half* x, const half* dy, float* dw,
                                bool accumulate) {
  backward_filter_t(sh, x, dy, dw, accumulate);
}
void conv2d_backward_filter_ref(const Conv2dShape& sh, const half* x, const half* dy, half* dw,
                                bool accumulate) {
  backward_filter_t(sh, x, dy, dw, accumulate);
}

}  // namespace tilenet::kernels
