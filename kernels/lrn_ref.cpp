// CPU reference for kernels/lrn.h: plain loops in double, pixels in parallel.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/lrn.h"
#include "kernels/ref_util.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {

void check_lrn_params(const LrnParams& prm, const char* op) {
  TILENET_CHECK(prm.size >= 1 && prm.k > 0.0f && prm.alpha >= 0.0f && prm.beta >= 0.0f, ValueError, op,
                ": expected size >= 1, k > 0, alpha >= 0, beta >= 0; got size ", prm.size, ", k ", prm.k, ", alpha ",
                prm.alpha, ", beta ", prm.beta);
}

namespace {

using ref::ld;
using ref::st;

// s_c of one pixel row.
template <typename T>
void scales(const T* x, std::int64_t c, const LrnParams& prm, std::vector<double>& s) {
  const std::int64_t lo = prm.size / 2, hi = (prm.size - 1) / 2;
  for (std::int64_t j = 0; j < c; ++j) {
    double sum = 0;
    for (std::int64_t i = std::max<std::int64_t>(0, j - lo); i <= std::min(c - 1, j + hi); ++i) sum += ld(x[i]) * ld(x[i]);
    s[j] = prm.k + prm.alpha / prm.size * sum;
  }
}

template <typename T>
void fwd(const T* x, T* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm) {
  check_lrn_params(prm, "lrn_forward_ref");
  parallel_for(0, pixels, 64, [&](std::int64_t b, std::int64_t e) {
    std::vector<double> s(c);
    for (std::int64_t p = b; p < e; ++p) {
      scales(x + p * c, c, prm, s);
      for (std::int64_t j = 0; j < c; ++j) y[p * c + j] = st<T>(ld(x[p * c + j]) * std::pow(s[j], -static_cast<double>(prm.beta)));
    }
  });
}

template <typename T>
void bwd(const T* x, const T* dy, T* dx, std::int64_t pixels, std::int64_t c, const LrnParams& prm) {
  check_lrn_params(prm, "lrn_backward_ref");
  const std::int64_t lo = prm.size / 2, hi = (prm.size - 1) / 2;
  const double beta = prm.beta, f = 2.0 * prm.alpha * beta / prm.size;
  parallel_for(0, pixels, 64, [&](std::int64_t b, std::int64_t e) {
    std::vector<double> s(c), g(c);
    for (std::int64_t p = b; p < e; ++p) {
      const T* xp = x + p * c;
      scales(xp, c, prm, s);
      // g_c = dy_c * y_c / s_c = dy_c x_c s_c^(-beta-1)
      for (std::int64_t j = 0; j < c; ++j) g[j] = ld(dy[p * c + j]) * ld(xp[j]) * std::pow(s[j], -beta - 1);
      for (std::int64_t j = 0; j < c; ++j) {
        double sum = 0;  // over c whose window holds j: c in [j - hi, j + lo]
        for (std::int64_t i = std::max<std::int64_t>(0, j - hi); i <= std::min(c - 1, j + lo); ++i) sum += g[i];
        dx[p * c + j] = st<T>(ld(dy[p * c + j]) * std::pow(s[j], -beta) - f * ld(xp[j]) * sum);
      }
    }
  });
}

}  // namespace

#define TILENET_LRN_REF(T)                                                                                        \
  void lrn_forward_ref(const T* x, T* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm) {            \
    fwd(x, y, pixels, c, prm);                                                                                    \
  }                                                                                                               \
  void lrn_backward_ref(const T* x, const T* dy, T* dx, std::int64_t pixels, std::int64_t c,                     \
                        const LrnParams& prm) {                                                                   \
    bwd(x, dy, dx, pixels, c, prm);                                                                               \
  }
TILENET_LRN_REF(float)
TILENET_LRN_REF(half)
TILENET_LRN_REF(double)
#undef TILENET_LRN_REF

}  // namespace tilenet::kernels
