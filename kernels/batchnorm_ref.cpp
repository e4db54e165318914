// CPU references for kernels/batchnorm.h: two passes in double (mean, then the sum of squared
// deviations). Column sums run over fixed 1024-row chunks in parallel and merge in chunk order, so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/ref_util.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {
namespace {

using ref::ld;
using ref::st;

constexpr std::int64_t kChunkRows = 1024;

void check_dims(std::int64_t rows, std::int64_t channels, const char* op) {
  TILENET_CHECK(rows >= 1 && channels >= 1, ShapeError, op, ": expected rows >= 1 and channels >= 1, got ", rows, "x",
                channels);
}

// out[c] = sum over rows of f(r, c), deterministic.
template <typename F>
std::vector<double> column_sums(std::int64_t rows, std::int64_t channels, const F& f) {
  const std::int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  std::vector<double> partial(static_cast<std::size_t>(chunks * channels), 0.0);
  parallel_for(0, chunks, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t k = b; k < e; ++k) {
      double* acc = partial.data() + k * channels;
      const std::int64_t r1 = std::min(rows, (k + 1) * kChunkRows);
      for (std::int64_t r = k * kChunkRows; r < r1; ++r)
        for (std::int64_t c = 0; c < channels; ++c) acc[c] += f(r, c);
    }
  });
  std::vector<double> out(channels, 0.0);
  for (std::int64_t k = 0; k < chunks; ++k)
    for (std::int64_t c = 0; c < channels; ++c) out[c] += partial[k * channels + c];
  return out;
}

// y[r, c] = x[r, c] * scale[c] + shift[c]
template <typename T>
void apply(const T* x, T* y, std::int64_t rows, std::int64_t channels, const std::vector<double>& scale,
           const std::vector<double>& shift) {
  parallel_for(0, rows, 256, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r)
      for (std::int64_t c = 0; c < channels; ++c) y[r * channels + c] = st<T>(ld(x[r * channels + c]) * scale[c] + shift[c]);
  });
}

template <typename T, typename G>
void train(const T* x, const G* gamma, const G* beta, G* running_mean, G* running_var, T* y, G* save_mean,
           G* save_invstd, std::int64_t rows, std::int64_t channels, double momentum, double eps) {
  check_dims(rows, channels, "batchnorm_forward_train_ref");
  const double n = static_cast<double>(rows);
  std::vector<double> mean = column_sums(rows, channels, [&](std::int64_t r, std::int64_t c) { return ld(x[r * channels + c]); });
  for (double& m : mean) m /= n;
  std::vector<double> m2 = column_sums(rows, channels, [&](std::int64_t r, std::int64_t c) {
    const double d = ld(x[r * channels + c]) - mean[c];
    return d * d;
  });
  std::vector<double> scale(channels), shift(channels);
  for (std::int64_t c = 0; c < channels; ++c) {
    const double var = m2[c] / n;
    const double unbiased = rows > 1 ? m2[c] / (n - 1) : var;
    const double invstd = 1.0 / std::sqrt(var + eps);
    save_mean[c] = static_cast<G>(mean[c]);
    save_invstd[c] = static_cast<G>(invstd);
    running_mean[c] = static_cast<G>(momentum * running_mean[c] + (1 - momentum) * mean[c]);
    running_var[c] = static_cast<G>(momentum * running_var[c] + (1 - momentum) * unbiased);
    scale[c] = static_cast<double>(gamma[c]) * invstd;
    shift[c] = static_cast<double>(beta[c]) - mean[c] * scale[c];
  }
  apply(x, y, rows, channels, scale, shift);
}

template <typename T, typename G>
void infer(const T* x, const G* gamma, const G* beta, const G* mean, const G* var, T* y, std::int64_t rows,
           std::int64_t channels, double eps) {
  check_dims(rows, channels, "batchnorm_forward_infer_ref");
  std::vector<double> scale(channels), shift(channels);
  for (std::int64_t c = 0; c < channels; ++c) {
    scale[c] = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
    shift[c] = static_cast<double>(beta[c]) - static_cast<double>(mean[c]) * scale[c];
  }
  apply(x, y, rows, channels, scale, shift);
}

template <typename T, typename G>
void backward(const T* dy, const T* x, const G* gamma, const G* save_mean, const G* save_invstd, T* dx, G* dgamma,
              G* dbeta, std::int64_t rows, std::int64_t channels, bool accumulate) {
  check_dims(rows, channels, "batchnorm_backward_ref");
  const double n = static_cast<double>(rows);
  auto xhat = [&](std::int64_t r, std::int64_t c) {
    return (ld(x[r * channels + c]) - static_cast<double>(save_mean[c])) * static_cast<double>(save_invstd[c]);
  };
  const std::vector<double> sum_dy =
      column_sums(rows, channels, [&](std::int64_t r, std::int64_t c) { return ld(dy[r * channels + c]); });
  const std::vector<double> sum_dy_xhat =
      column_sums(rows, channels, [&](std::int64_t r, std::int64_t c) { return ld(dy[r * channels + c]) * xhat(r, c); });
  parallel_for(0, rows, 256, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r)
      for (std::int64_t c = 0; c < channels; ++c) {
        const double k = static_cast<double>(gamma[c]) * static_cast<double>(save_invstd[c]);
        dx[r * channels + c] =
            st<T>(k * (ld(dy[r * channels + c]) - sum_dy[c] / n - xhat(r, c) * sum_dy_xhat[c] / n));
      }
  });
  for (std::int64_t c = 0; c < channels; ++c) {
    dgamma[c] = static_cast<G>((accumulate ? static_cast<double>(dgamma[c]) : 0.0) + sum_dy_xhat[c]);
    dbeta[c] = static_cast<G>((accumulate ? static_cast<double>(dbeta[c]) : 0.0) + sum_dy[c]);
  }
}

}  // namespace

#define TILENET_BN_REF(T, G)                                                                                        \
  void batchnorm_forward_train_ref(const T* x, const G* gamma, const G* beta, G* running_mean, G* running_var, T* y, \
                                   G* save_mean, G* save_invstd, std::int64_t rows, std::int64_t channels,           \
                                   G momentum, G eps) {                                                              \
    train(x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd, rows, channels, momentum, eps);     \
  }                                                                                                                  \
  void batchnorm_forward_infer_ref(const T* x, const G* gamma, const G* beta, const G* mean, const G* var, T* y,    \
                                   std::int64_t rows, std::int64_t channels, G eps) {                                \
    infer(x, gamma, beta, mean, var, y, rows, channels, eps);                                                        \
  }                                                                                                                  \
  void batchnorm_backward_ref(const T* dy, const T* x, const G* gamma, const G* save_mean, const G* save_invstd,     \
                              T* dx, G* dgamma, G* dbeta, std::int64_t rows, std::int64_t channels, bool accumulate) { \
    backward(dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta, rows, channels, accumulate);                   \
  }

TILENET_BN_REF(float, float)
TILENET_BN_REF(half, float)
TILENET_BN_REF(double, double)
#undef TILENET_BN_REF

}  // namespace tilenet::kernels
