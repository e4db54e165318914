// CPU references for kernels/pool2d.h: plain loops over NHWC, double accumulation, images in
// parallel (each image's outputs are written by one thread, so results do not depend on the
// thread count). Backward passes scatter into a double buffer per image.
#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "kernels/pool2d.h"
#include "kernels/ref_util.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {

void check_pool2d_shape(const Pool2dShape& sh, const char* op) {
  TILENET_CHECK(sh.n >= 1 && sh.h >= 1 && sh.w >= 1 && sh.c >= 1, ShapeError, op, ": input extents must be >= 1, got N=",
                sh.n, " H=", sh.h, " W=", sh.w, " C=", sh.c);
  TILENET_CHECK(sh.r >= 1 && sh.s >= 1, ValueError, op, ": window must be >= 1x1, got ", sh.r, "x", sh.s);
  TILENET_CHECK(sh.stride_h >= 1 && sh.stride_w >= 1, ValueError, op, ": strides must be >= 1, got ", sh.stride_h,
                "x", sh.stride_w);
  TILENET_CHECK(sh.pad_top >= 0 && sh.pad_bottom >= 0 && sh.pad_left >= 0 && sh.pad_right >= 0, ValueError, op,
                ": padding must be >= 0, got top/left/bottom/right ", sh.pad_top, "/", sh.pad_left, "/",
                sh.pad_bottom, "/", sh.pad_right);
  TILENET_CHECK(sh.pad_top < sh.r && sh.pad_bottom < sh.r && sh.pad_left < sh.s && sh.pad_right < sh.s, ValueError,
                op, ": padding must be smaller than the window (", sh.r, "x", sh.s, "), got top/left/bottom/right ",
                sh.pad_top, "/", sh.pad_left, "/", sh.pad_bottom, "/", sh.pad_right);
  // 64-bit: p() and q() use int arithmetic, so the padded extents must fit well inside int.
  const std::int64_t hp = static_cast<std::int64_t>(sh.h) + sh.pad_top + sh.pad_bottom;
  const std::int64_t wp = static_cast<std::int64_t>(sh.w) + sh.pad_left + sh.pad_right;
  TILENET_CHECK(hp < INT_MAX / 2 && wp < INT_MAX / 2, ShapeError, op, ": padded input ", hp, "x", wp,
                " too large for 32-bit extents");
  TILENET_CHECK(hp >= sh.r && wp >= sh.s, ShapeError, op, ": a ", sh.r, "x", sh.s,
                " window does not fit the padded input ", hp, "x", wp);
}

namespace {

using ref::ld;
using ref::st;

// Window [h0, h1) x [w0, w1) of output (p, q), clipped to the input.
struct Window {
  int h0, h1, w0, w1;
};
Window window_of(const Pool2dShape& sh, int p, int q) {
  const int hs = p * sh.stride_h - sh.pad_top, ws = q * sh.stride_w - sh.pad_left;
  return {std::max(hs, 0), std::min(hs + sh.r, sh.h), std::max(ws, 0), std::min(ws + sh.s, sh.w)};
}

template <typename T>
void max_fwd(const Pool2dShape& sh, const T* x, T* y, std::int32_t* indices) {
  check_pool2d_shape(sh, "max_pool2d_forward_ref");
  const int P = sh.p(), Q = sh.q(), C = sh.c;
  parallel_for(0, sh.n, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<double> best(C);
    std::vector<std::int32_t> arg(C);
    for (std::int64_t n = b; n < e; ++n) {
      const T* xn = x + n * sh.h * sh.w * C;
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          const Window wd = window_of(sh, p, q);
          std::fill(arg.begin(), arg.end(), -1);
          for (int h = wd.h0; h < wd.h1; ++h)
            for (int w = wd.w0; w < wd.w1; ++w)
              for (int c = 0; c < C; ++c) {
                const double v = ld(xn[(static_cast<std::int64_t>(h) * sh.w + w) * C + c]);
                // First maximum wins; a NaN wins over numbers and stays.
                if (arg[c] < 0 || v > best[c] || (std::isnan(v) && !std::isnan(best[c]))) {
                  best[c] = v;
                  arg[c] = h * sh.w + w;
                }
              }
          const std::int64_t o = ((n * P + p) * Q + q) * C;
          for (int c = 0; c < C; ++c) {
            y[o + c] = st<T>(best[c]);
            if (indices) indices[o + c] = arg[c];
          }
        }
    }
  });
}

template <typename T>
void max_bwd(const Pool2dShape& sh, const T* dy, const std::int32_t* indices, T* dx) {
  check_pool2d_shape(sh, "max_pool2d_backward_ref");
  const int P = sh.p(), Q = sh.q(), C = sh.c;
  const std::int64_t hwc = static_cast<std::int64_t>(sh.h) * sh.w * C;
  parallel_for(0, sh.n, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<double> acc(hwc);
    for (std::int64_t n = b; n < e; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::int64_t o = 0; o < static_cast<std::int64_t>(P) * Q * C; ++o) {
        const std::int32_t i = indices[n * P * Q * C + o];
        TILENET_CHECK(i >= 0 && i < sh.h * sh.w, ValueError, "max_pool2d_backward_ref: index ", i,
                      " outside the ", sh.h, "x", sh.w, " image");
        acc[static_cast<std::int64_t>(i) * C + o % C] += ld(dy[n * P * Q * C + o]);
      }
      for (std::int64_t k = 0; k < hwc; ++k) dx[n * hwc + k] = st<T>(acc[k]);
    }
  });
}

template <typename T>
void avg_fwd(const Pool2dShape& sh, const T* x, T* y) {
  check_pool2d_shape(sh, "avg_pool2d_forward_ref");
  const int P = sh.p(), Q = sh.q(), C = sh.c;
  parallel_for(0, sh.n, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<double> sum(C);
    for (std::int64_t n = b; n < e; ++n) {
      const T* xn = x + n * sh.h * sh.w * C;
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          const Window wd = window_of(sh, p, q);
          std::fill(sum.begin(), sum.end(), 0.0);
          for (int h = wd.h0; h < wd.h1; ++h)
            for (int w = wd.w0; w < wd.w1; ++w)
              for (int c = 0; c < C; ++c) sum[c] += ld(xn[(static_cast<std::int64_t>(h) * sh.w + w) * C + c]);
          const double count = static_cast<double>(wd.h1 - wd.h0) * (wd.w1 - wd.w0);
          const std::int64_t o = ((n * P + p) * Q + q) * C;
          for (int c = 0; c < C; ++c) y[o + c] = st<T>(sum[c] / count);
        }
    }
  });
}

template <typename T>
void avg_bwd(const Pool2dShape& sh, const T* dy, T* dx) {
  check_pool2d_shape(sh, "avg_pool2d_backward_ref");
  const int P = sh.p(), Q = sh.q(), C = sh.c;
  const std::int64_t hwc = static_cast<std::int64_t>(sh.h) * sh.w * C;
  parallel_for(0, sh.n, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<double> acc(hwc);
    for (std::int64_t n = b; n < e; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          const Window wd = window_of(sh, p, q);
          const double count = static_cast<double>(wd.h1 - wd.h0) * (wd.w1 - wd.w0);
          const T* g = dy + ((n * P + p) * Q + q) * C;
          for (int h = wd.h0; h < wd.h1; ++h)
            for (int w = wd.w0; w < wd.w1; ++w)
              for (int c = 0; c < C; ++c) acc[(static_cast<std::int64_t>(h) * sh.w + w) * C + c] += ld(g[c]) / count;
        }
      for (std::int64_t k = 0; k < hwc; ++k) dx[n * hwc + k] = st<T>(acc[k]);
    }
  });
}

void check_global(std::int64_t n, std::int64_t hw, std::int64_t c, const char* op) {
  TILENET_CHECK(n >= 1 && hw >= 1 && c >= 1, ShapeError, op, ": extents must be >= 1, got N=", n, " HW=", hw, " C=", c);
}

template <typename T>
void gap_fwd(const T* x, T* y, std::int64_t n, std::int64_t hw, std::int64_t c) {
  check_global(n, hw, c, "global_avg_pool_forward_ref");
  parallel_for(0, n, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<double> sum(c);
    for (std::int64_t i = b; i < e; ++i) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (std::int64_t k = 0; k < hw; ++k)
        for (std::int64_t j = 0; j < c; ++j) sum[j] += ld(x[(i * hw + k) * c + j]);
      for (std::int64_t j = 0; j < c; ++j) y[i * c + j] = st<T>(sum[j] / static_cast<double>(hw));
    }
  });
}

template <typename T>
void gap_bwd(const T* dy, T* dx, std::int64_t n, std::int64_t hw, std::int64_t c) {
  check_global(n, hw, c, "global_avg_pool_backward_ref");
  parallel_for(0, n, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i)
      for (std::int64_t k = 0; k < hw; ++k)
        for (std::int64_t j = 0; j < c; ++j) dx[(i * hw + k) * c + j] = st<T>(ld(dy[i * c + j]) / static_cast<double>(hw));
  });
}

}  // namespace

#define TILENET_POOL_REF(T)                                                                                     \
  void max_pool2d_forward_ref(const Pool2dShape& sh, const T* x, T* y, std::int32_t* indices) {                \
    max_fwd(sh, x, y, indices);                                                                                 \
  }                                                                                                             \
  void max_pool2d_backward_ref(const Pool2dShape& sh, const T* dy, const std::int32_t* indices, T* dx) {       \
    max_bwd(sh, dy, indices, dx);                                                                               \
  }                                                                                                             \
  void avg_pool2d_forward_ref(const Pool2dShape& sh, const T* x, T* y) { avg_fwd(sh, x, y); }                  \
  void avg_pool2d_backward_ref(const Pool2dShape& sh, const T* dy, T* dx) { avg_bwd(sh, dy, dx); }             \
  void global_avg_pool_forward_ref(const T* x, T* y, std::int64_t n, std::int64_t hw, std::int64_t c) {        \
    gap_fwd(x, y, n, hw, c);                                                                                    \
  }                                                                                                             \
  void global_avg_pool_backward_ref(const T* dy, T* dx, std::int64_t n, std::int64_t hw, std::int64_t c) {     \
    gap_bwd(dy, dx, n, hw, c);                                                                                  \
  }

TILENET_POOL_REF(float)
TILENET_POOL_REF(half)
TILENET_POOL_REF(double)
#undef TILENET_POOL_REF

}  // namespace tilenet::kernels
