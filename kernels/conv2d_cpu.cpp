// CPU backend of kernels/conv2d.h: im2col + gemm_cpu (blocked, multi-threaded), processed in
// chunks of rows so the column buffer stays cache-sized. 1x1 stride-1 unpadded convolutions skip
// im2col. Backward-data gathers (col2im as a gather, parallel over input rows, no atomics);
// backward-filter accumulates chunk after chunk in fp32. Deterministic for a given thread count.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {
namespace {

constexpr std::int64_t kColBudget = std::int64_t{4} << 20;  // elements of one column chunk

inline float ld(float v) { return v; }
inline float ld(half v) { return half_to_float(v); }
template <typename T>
T st(float v) {
  if constexpr (std::is_same_v<T, half>)
    return float_to_half(v);
  else
    return v;
}

bool is_pointwise(const Conv2dShape& sh) {
  return sh.r == 1 && sh.s == 1 && sh.stride_h == 1 && sh.stride_w == 1 && sh.pad_top == 0 && sh.pad_left == 0 &&
         sh.pad_bottom == 0 && sh.pad_right == 0;
}

std::int64_t grain_for(std::int64_t per_item) { return std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, per_item)); }

// Rows [m0, m1) of the forward GEMM's A: col[(m - m0) * Kg + (r*S + s)*C + c] = x at the tap.
template <typename T>
void im2col(const Conv2dShape& sh, const T* x, std::int64_t m0, std::int64_t m1, T* col) {
  const int P = sh.p(), Q = sh.q(), C = sh.c;
  const std::int64_t Kg = sh.gemm_k();
  parallel_for(m0, m1, grain_for(Kg), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t m = b; m < e; ++m) {
      const int n = static_cast<int>(m / (static_cast<std::int64_t>(P) * Q));
      const int pq = static_cast<int>(m % (static_cast<std::int64_t>(P) * Q));
      const int p = pq / Q, q = pq % Q;
      T* row = col + (m - m0) * Kg;
      for (int r = 0; r < sh.r; ++r) {
        const int h = p * sh.stride_h - sh.pad_top + r * sh.dilation_h;
        for (int s = 0; s < sh.s; ++s) {
          const int w = q * sh.stride_w - sh.pad_left + s * sh.dilation_w;
          T* dst = row + (static_cast<std::int64_t>(r) * sh.s + s) * C;
          if (h >= 0 && h < sh.h && w >= 0 && w < sh.w)
            std::memcpy(dst, x + ((static_cast<std::int64_t>(n) * sh.h + h) * sh.w + w) * C, sizeof(T) * C);
          else
            std::memset(static_cast<void*>(dst), 0, sizeof(T) * C);  // +0.0 in fp32 and fp16
        }
      }
    }
  });
}

template <typename T>
void forward_t(const Conv2dShape& sh, const T* x, const T* w, const float* bias, T* y, Activation act) {
  check_conv2d_shape(sh, "conv2d_forward");
  const std::int64_t M = sh.gemm_m(), Kg = sh.gemm_k();
  GemmParams gp;
  gp.n = sh.k;
  gp.k = Kg;
  gp.trans_b = true;  // w is [K, Kg]
  gp.bias = bias;
  gp.act = act;
  if (is_pointwise(sh)) {
    gp.m = M;
    gemm_cpu(gp, x, w, y);
    return;
  }
  const std::int64_t rows = std::max<std::int64_t>(1, std::min(M, kColBudget / Kg));
  std::vector<T> col(static_cast<std::size_t>(rows * Kg));
  for (std::int64_t m0 = 0; m0 < M; m0 += rows) {
    const std::int64_t m1 = std::min(M, m0 + rows);
    im2col(sh, x, m0, m1, col.data());
    gp.m = m1 - m0;
    gemm_cpu(gp, col.data(), w, y + m0 * sh.k);
  }
}

template <typename T>
void backward_data_t(const Conv2dShape& sh, const T* dy, const T* w, T* dx) {
  check_conv2d_shape(sh, "conv2d_backward_data");
  const int P = sh.p(), Q = sh.q(), C = sh.c;
  const std::int64_t Kg = sh.gemm_k(), PQ = static_cast<std::int64_t>(P) * Q;
  GemmParams gp;
  gp.k = sh.k;
  if (is_pointwise(sh)) {  // dx = dy [M, K] . w [K, C]
    gp.m = sh.gemm_m();
    gp.n = C;
    gemm_cpu(gp, dy, w, dx);
    return;
  }
  // dcol [rows, Kg] = dy [rows, K] . w [K, Kg] for whole images, then each dx pixel gathers the
  // dcol entries of the taps that read it.
  const int imgs = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(sh.n, kColBudget / (PQ * Kg))));
  std::vector<float> dcol(static_cast<std::size_t>(imgs * PQ * Kg));
  gp.n = Kg;
  for (int n0 = 0; n0 < sh.n; n0 += imgs) {
    const int n1 = std::min(sh.n, n0 + imgs);
    gp.m = (n1 - n0) * PQ;
    gemm_cpu(gp, dy + n0 * PQ * sh.k, w, dcol.data());
    const std::int64_t pixel_rows = static_cast<std::int64_t>(n1 - n0) * sh.h;
    parallel_for(0, pixel_rows, grain_for(static_cast<std::int64_t>(sh.w) * C * sh.r * sh.s),
                 [&](std::int64_t b, std::int64_t e) {
                   std::vector<float> acc(C);
                   for (std::int64_t nh = b; nh < e; ++nh) {
                     const int ni = static_cast<int>(nh / sh.h), h = static_cast<int>(nh % sh.h);
                     for (int wi = 0; wi < sh.w; ++wi) {
                       std::fill(acc.begin(), acc.end(), 0.0f);
                       for (int r = 0; r < sh.r; ++r) {
                         const int ph = h + sh.pad_top - r * sh.dilation_h;
                         if (ph < 0 || ph % sh.stride_h) continue;
                         const int p = ph / sh.stride_h;
                         if (p >= P) continue;
                         for (int s = 0; s < sh.s; ++s) {
                           const int qw = wi + sh.pad_left - s * sh.dilation_w;
                           if (qw < 0 || qw % sh.stride_w) continue;
                           const int q = qw / sh.stride_w;
                           if (q >= Q) continue;
                           const float* src =
                               dcol.data() + ((ni * PQ + static_cast<std::int64_t>(p) * Q + q) * Kg) +
                               (static_cast<std::int64_t>(r) * sh.s + s) * C;
                           for (int c = 0; c < C; ++c) acc[c] += src[c];
                         }
                       }
                       T* dst = dx + ((static_cast<std::int64_t>(n0 + ni) * sh.h + h) * sh.w + wi) * C;
                       for (int c = 0; c < C; ++c) dst[c] = st<T>(acc[c]);
                     }
                   }
                 });
  }
}

// dw [K, Kg] (+)= dy^T [K, M] . col [M, Kg], chunk by chunk into an fp32 accumulator.
template <typename T>
void backward_filter_into_f32(const Conv2dShape& sh, const T* x, const T* dy, float* acc, bool accumulate) {
  const std::int64_t M = sh.gemm_m(), Kg = sh.gemm_k();
  GemmParams gp;
  gp.n = Kg;
  gp.trans_a = true;  // dy is [M, K]
  gp.lda = sh.k;
  if (is_pointwise(sh)) {
    gp.m = sh.k;
    gp.k = M;
    gp.beta = accumulate ? 1.0f : 0.0f;
    gemm_cpu(gp, dy, x, acc);
    return;
  }
  gp.m = sh.k;
  const std::int64_t rows = std::max<std::int64_t>(1, std::min(M, kColBudget / Kg));
  std::vector<T> col(static_cast<std::size_t>(rows * Kg));
  for (std::int64_t m0 = 0; m0 < M; m0 += rows) {
    const std::int64_t m1 = std::min(M, m0 + rows);
    im2col(sh, x, m0, m1, col.data());
    gp.k = m1 - m0;
    gp.beta = (m0 > 0 || accumulate) ? 1.0f : 0.0f;
    gemm_cpu(gp, dy + m0 * sh.k, col.data(), acc);
  }
}

template <typename T, typename TW>
void backward_filter_t(const Conv2dShape& sh, const T* x, const T* dy, TW* dw, bool accumulate) {
  check_conv2d_shape(sh, "conv2d_backward_filter");
  if constexpr (std::is_same_v<TW, float>) {
    backward_filter_into_f32(sh, x, dy, dw, accumulate);
  } else {
    const std::int64_t n = sh.w_elems();
    std::vector<float> acc(static_cast<std::size_t>(n));
    if (accumulate)
      for (std::int64_t i = 0; i < n; ++i) acc[i] = ld(dw[i]);
    backward_filter_into_f32(sh, x, dy, acc.data(), accumulate);
    for (std::int64_t i = 0; i < n; ++i) dw[i] = st<TW>(acc[i]);
  }
}

}  // namespace

void conv2d_forward_cpu(const Conv2dShape& sh, const float* x, const float* w, const float* bias, float* y,
                        Activation act) {
  forward_t(sh, x, w, bias, y, act);
}
void conv2d_forward_cpu(const Conv2dShape& sh, const half* x, const half* w, const float* bias, half* y,
                        Activation act) {
  forward_t(sh, x, w, bias, y, act);
}
void conv2d_backward_data_cpu(const Conv2dShape& sh, const float* dy, const float* w, float* dx) {
  backward_data_t(sh, dy, w, dx);
}
void conv2d_backward_data_cpu(const Conv2dShape& sh, const half* dy, const half* w, half* dx) {
  backward_data_t(sh, dy, w, dx);
}
void conv2d_backward_filter_cpu(const Conv2dShape& sh, const float* x, const float* dy, float* dw,
                                bool accumulate) {
  backward_filter_t(sh, x, dy, dw, accumulate);
}
void conv2d_backward_filter_cpu(const Conv2dShape& sh, const half* x, const half* dy, float* dw,
                                bool accumulate) {
  backward_filter_t(sh, x, dy, dw, accumulate);
}
void conv2d_backward_filter_cpu(const Conv2dShape& sh, const half* x, const half* dy, half* dw,
                                bool accumulate) {
  backward_filter_t(sh, x, dy, dw, accumulate);
}

}  // namespace tilenet::kernels
