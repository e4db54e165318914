// CPU references for kernels/train_ops.h: plain loops, double arithmetic where it helps. They are
// also the CPU backend of fit(); the arithmetic mirrors train_ops.cu so CPU and GPU agree closely.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/train_ops.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {

inline float load(float v) { return v; }
inline float load(half v) { return half_to_float(v); }
template <typename T>
inline T store(float v);
template <>
inline float store<float>(float v) { return v; }
template <>
inline half store<half>(float v) { return float_to_half(v); }

template <typename Tin, typename Tout>
void gather_impl(const Tin* src, const std::int32_t* index, Tout* dst, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const Tin* s = src + static_cast<std::int64_t>(index[i]) * cols;
    Tout* d = dst + i * cols;
    if constexpr (std::is_same_v<Tin, Tout>) {
      std::memcpy(d, s, static_cast<std::size_t>(cols) * sizeof(Tin));
    } else {
      for (std::int64_t c = 0; c < cols; ++c) d[c] = store<Tout>(s[c]);
    }
  }
}

double target_at(const ProbLossArgs& a, std::int64_t i, std::int64_t c) {
  if (a.labels) return a.labels[i] == c ? 1.0 : 0.0;
  return a.targets[i * a.cols + c];
}

// The gradient scale, formed in float as the kernels do: grad_scale * *grad_scale_device (here a
// host pointer).
float grad_scale_of(const ProbLossArgs& a) {
  return a.grad_scale_device ? a.grad_scale * *a.grad_scale_device : a.grad_scale;
}

template <typename T>
void ce_probs(const ProbLossArgs& a, const T* pred, T* dpred) {
  // The clip bounds rounded to float (Keras's epsilon arithmetic), as the kernel forms them.
  const double lo = a.eps, hi = static_cast<double>(1.0f - a.eps);
  const float scale = dpred ? grad_scale_of(a) : 0.0f;
  for (std::int64_t i = 0; i < a.rows; ++i) {
    const T* p = pred + i * a.cols;
    if (a.labels && (a.labels[i] < 0 || a.labels[i] >= a.cols))
      throw ValueError(detail::make_message("crossentropy: label ", a.labels[i], " at row ", i,
                                            " is outside [0, ", a.cols, ")"));
    double s = 0.0;
    for (std::int64_t c = 0; c < a.cols; ++c) s += load(p[c]);
    double loss = 0.0, tsum = 0.0;
    for (std::int64_t c = 0; c < a.cols; ++c) {
      const double t = target_at(a, i, c);
      const double q = load(p[c]) / s;
      const double qc = q < lo ? lo : (q > hi ? hi : q);
      loss -= t * std::log(qc);
      if (q >= lo && q <= hi) tsum += t;
    }
    a.losses[i] = static_cast<float>(loss);
    if (!dpred) continue;
    // dL/dp_j = (g_j + sum_{unclipped c} t_c) / s with g_j = -t_j / q_j where q_j is unclipped.
    for (std::int64_t c = 0; c < a.cols; ++c) {
      const double q = load(p[c]) / s;
      const double g = (q >= lo && q <= hi) ? -target_at(a, i, c) / q : 0.0;
      dpred[i * a.cols + c] = store<T>(static_cast<float>((g + tsum) / s * scale));
    }
  }
}

template <typename T>
void mse(const ProbLossArgs& a, const T* pred, T* dpred) {
  const float scale = dpred ? grad_scale_of(a) : 0.0f;
  for (std::int64_t i = 0; i < a.rows; ++i) {
    double loss = 0.0;
    for (std::int64_t c = 0; c < a.cols; ++c) {
      const double d = static_cast<double>(load(pred[i * a.cols + c])) - a.targets[i * a.cols + c];
      loss += d * d;
      if (dpred) dpred[i * a.cols + c] = store<T>(static_cast<float>(2.0 * d / a.cols * scale));
    }
    a.losses[i] = static_cast<float>(loss / a.cols);
  }
}

template <typename T>
void metrics(const MetricArgs& a, const T* pred, double* acc) {
  double loss_sum = 0.0;
  std::int64_t correct[kMaxMetrics] = {0, 0, 0, 0};
  for (std::int64_t i = 0; i < a.rows; ++i) {
    if (a.losses) loss_sum += a.losses[i];
    const T* p = pred + i * a.cols;
    if (a.cols == 1) {
      const bool yes = load(p[0]) > a.binary_threshold;
      const float t = a.labels ? static_cast<float>(a.labels[i]) : a.targets[i];
      for (int j = 0; j < a.num_metrics; ++j) correct[j] += (yes == (t > 0.5f));
      continue;
    }
    std::int64_t label = 0;
    if (a.labels) {
      label = a.labels[i];
    } else {
      const float* t = a.targets + i * a.cols;
      for (std::int64_t c = 1; c < a.cols; ++c)
        if (t[c] > t[label]) label = c;
    }
    if (label < 0 || label >= a.cols) continue;  // counted wrong; the loss reports it as NaN
    std::int64_t argmax = 0, above = 0;
    const float z = load(p[label]);
    for (std::int64_t c = 0; c < a.cols; ++c) {
      const float v = load(p[c]);
      if (v > load(p[argmax])) argmax = c;
      if (v > z) ++above;
    }
    const bool nan = std::isnan(z);
    for (int j = 0; j < a.num_metrics; ++j) {
      const bool ok = a.k[j] == 1 ? (argmax == label && !std::isnan(load(p[argmax]))) : (!nan && above < a.k[j]);
      correct[j] += ok;
    }
  }
  acc[0] += loss_sum;
  acc[1] += static_cast<double>(a.rows);
  for (int j = 0; j < a.num_metrics; ++j) acc[2 + j] += static_cast<double>(correct[j]);
}

}  // namespace

void gather_rows_ref(const float* src, const std::int32_t* index, float* dst, std::int64_t rows, std::int64_t cols) {
  gather_impl(src, index, dst, rows, cols);
}
void gather_rows_ref(const float* src, const std::int32_t* index, half* dst, std::int64_t rows, std::int64_t cols) {
  gather_impl(src, index, dst, rows, cols);
}
void gather_rows_ref(const std::int32_t* src, const std::int32_t* index, std::int32_t* dst, std::int64_t rows,
                     std::int64_t cols) {
  gather_impl(src, index, dst, rows, cols);
}

void crossentropy_probs_ref(const ProbLossArgs& a, const float* pred, float* dpred) { ce_probs(a, pred, dpred); }
void crossentropy_probs_ref(const ProbLossArgs& a, const half* pred, half* dpred) { ce_probs(a, pred, dpred); }
void mse_loss_ref(const ProbLossArgs& a, const float* pred, float* dpred) { mse(a, pred, dpred); }
void mse_loss_ref(const ProbLossArgs& a, const half* pred, half* dpred) { mse(a, pred, dpred); }

void accumulate_metrics_ref(const MetricArgs& a, const float* pred, double* acc) { metrics(a, pred, acc); }
void accumulate_metrics_ref(const MetricArgs& a, const half* pred, double* acc) { metrics(a, pred, acc); }

}  // namespace tilenet::kernels
