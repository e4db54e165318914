// CPU references for kernels/softmax.h: each row in double (max subtracted before exp), rows in
// parallel.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/ref_util.h"
#include "kernels/softmax.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {
namespace {

using ref::ld;
using ref::st;

void check_rows(std::int64_t rows, std::int64_t cols, const char* op) {
  TILENET_CHECK(rows >= 0 && cols >= 1, ShapeError, op, ": expected rows >= 0 and cols >= 1, got ", rows, "x", cols);
}

// Max and log of the normaliser of one row: log_softmax(x)_c = x_c - m - log_s.
template <typename T>
void row_stats(const T* x, std::int64_t cols, double& m, double& log_s) {
  m = -std::numeric_limits<double>::infinity();
  for (std::int64_t c = 0; c < cols; ++c) m = std::fmax(m, ld(x[c]));
  double s = 0.0;
  for (std::int64_t c = 0; c < cols; ++c) s += std::exp(ld(x[c]) - m);
  log_s = std::log(s);
}

template <typename T>
void fwd(const T* x, T* y, std::int64_t rows, std::int64_t cols, bool log) {
  check_rows(rows, cols, log ? "log_softmax_forward_ref" : "softmax_forward_ref");
  parallel_for(0, rows, 64, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      double m, log_s;
      row_stats(xr, cols, m, log_s);
      for (std::int64_t c = 0; c < cols; ++c) {
        const double l = ld(xr[c]) - m - log_s;
        yr[c] = st<T>(log ? l : std::exp(l));
      }
    }
  });
}

template <typename T>
void bwd(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t cols, bool log) {
  check_rows(rows, cols, log ? "log_softmax_backward_ref" : "softmax_backward_ref");
  parallel_for(0, rows, 64, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T *yr = y + r * cols, *gr = dy + r * cols;
      T* out = dx + r * cols;
      double dot = 0.0;
      for (std::int64_t c = 0; c < cols; ++c) dot += log ? ld(gr[c]) : ld(gr[c]) * ld(yr[c]);
      for (std::int64_t c = 0; c < cols; ++c)
        out[c] = st<T>(log ? ld(gr[c]) - std::exp(ld(yr[c])) * dot : ld(yr[c]) * (ld(gr[c]) - dot));
    }
  });
}

// Shared by both cross-entropy forms: target(r, c) gives t[r, c].
template <typename T, typename L, typename Target>
void cross_entropy(const T* logits, L* losses, T* dlogits, std::int64_t rows, std::int64_t cols, double grad_scale,
                   const Target& target) {
  parallel_for(0, rows, 64, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* xr = logits + r * cols;
      double m, log_s;
      row_stats(xr, cols, m, log_s);
      double loss = 0.0, tsum = 0.0;
      for (std::int64_t c = 0; c < cols; ++c) {
        const double t = target(r, c);
        tsum += t;
        if (t != 0.0) loss -= t * (ld(xr[c]) - m - log_s);
      }
      losses[r] = static_cast<L>(loss);
      // With no net target mass the loss does not depend on the logits: gradient -t * scale, as
      // exp(x - inf) * 0, so finite and -inf logits give exactly that (an all -inf masked row is
      // not NaN) and a NaN or +inf logit still shows; the kernels do the same.
      const double shift = tsum == 0.0 ? HUGE_VAL : m + log_s;
      if (dlogits)
        for (std::int64_t c = 0; c < cols; ++c)
          dlogits[r * cols + c] = st<T>((std::exp(ld(xr[c]) - shift) * tsum - target(r, c)) * grad_scale);
    }
  });
}

// The gradient scale as the kernels form it: grad_scale * *factor in L (float: one rounding).
template <typename L>
double grad_scale_of(L grad_scale, const L* factor) {
  return static_cast<double>(factor ? static_cast<L>(grad_scale * *factor) : grad_scale);
}

template <typename T, typename L>
void ce_hard(const T* logits, const std::int32_t* labels, L* losses, T* dlogits, std::int64_t rows, std::int64_t cols,
             double grad_scale) {
  check_rows(rows, cols, "softmax_cross_entropy_ref");
  for (std::int64_t r = 0; r < rows; ++r)
    TILENET_CHECK(labels[r] >= 0 && labels[r] < cols, ValueError, "softmax_cross_entropy_ref: label ", labels[r],
                  " of row ", r, " is outside [0, ", cols, ")");
  cross_entropy(logits, losses, dlogits, rows, cols, grad_scale,
                [&](std::int64_t r, std::int64_t c) { return labels[r] == c ? 1.0 : 0.0; });
}

template <typename T, typename L, typename TT>
void ce_soft(const T* logits, const TT* targets, L* losses, T* dlogits, std::int64_t rows, std::int64_t cols,
             double grad_scale) {
  check_rows(rows, cols, "softmax_cross_entropy_soft_ref");
  cross_entropy(logits, losses, dlogits, rows, cols, grad_scale,
                [&](std::int64_t r, std::int64_t c) { return static_cast<double>(targets[r * cols + c]); });
}

}  // namespace

#define TILENET_SOFTMAX_REF(T, L, TT)                                                                              \
  void softmax_forward_ref(const T* x, T* y, std::int64_t rows, std::int64_t cols, bool log) {                    \
    fwd(x, y, rows, cols, log);                                                                                    \
  }                                                                                                                \
  void softmax_backward_ref(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t cols, bool log) {     \
    bwd(y, dy, dx, rows, cols, log);                                                                               \
  }                                                                                                                \
  void softmax_cross_entropy_ref(const T* logits, const std::int32_t* labels, L* losses, T* dlogits,              \
                                 std::int64_t rows, std::int64_t cols, L grad_scale, const L* factor) {            \
    ce_hard(logits, labels, losses, dlogits, rows, cols, grad_scale_of(grad_scale, factor));                       \
  }                                                                                                                \
  void softmax_cross_entropy_soft_ref(const T* logits, const TT* targets, L* losses, T* dlogits, std::int64_t rows, \
                                      std::int64_t cols, L grad_scale, const L* factor) {                          \
    ce_soft(logits, targets, losses, dlogits, rows, cols, grad_scale_of(grad_scale, factor));                      \
  }

TILENET_SOFTMAX_REF(float, float, float)
TILENET_SOFTMAX_REF(half, float, float)
TILENET_SOFTMAX_REF(double, double, double)
#undef TILENET_SOFTMAX_REF

}  // namespace tilenet::kernels
