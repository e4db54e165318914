// Training-loop kernels for nn/: row gathers (on-device shuffling), losses on probabilities / MSE,
// and the per-batch loss + metric accumulation that keeps fit() free of host synchronisation.
// float or half predictions; losses and sums in float/double. CUDA launchers take device
// pointers, the *_ref CPU references host pointers; both have the same semantics. Host-only header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

// dst[i, :] = src[index[i], :] for i in [0, rows); row width `cols`. src and dst do not overlap.
// Indices are trusted (validated by the caller). float -> float, float -> half, int32 -> int32.
void gather_rows(const float* src, const std::int32_t* index, float* dst, std::int64_t rows, std::int64_t cols,
                 cudaStream_t stream);
void gather_rows(const float* src, const std::int32_t* index, half* dst, std::int64_t rows, std::int64_t cols,
                 cudaStream_t stream);
void gather_rows(const std::int32_t* src, const std::int32_t* index, std::int32_t* dst, std::int64_t rows,
                 std::int64_t cols, cudaStream_t stream);
void gather_rows_ref(const float* src, const std::int32_t* index, float* dst, std::int64_t rows, std::int64_t cols);
void gather_rows_ref(const float* src, const std::int32_t* index, half* dst, std::int64_t rows, std::int64_t cols);
void gather_rows_ref(const std::int32_t* src, const std::int32_t* index, std::int32_t* dst, std::int64_t rows,
                     std::int64_t cols);

// Cross-entropy on probabilities (Keras from_logits=False): per row, q = p / sum(p), clipped to
// [eps, 1 - eps]; losses[i] = -sum_c t[i,c] log q_c, with t one-hot(labels[i]) when `labels` is given,
// else the dense `targets` [rows, cols] (f32). dpred (pred's type; skipped when null) is the exact
// gradient of that loss (zero through clipped entries) times the gradient scale
//   s = grad_scale * *grad_scale_device   (grad_scale_device null: s = grad_scale),
// formed in float. grad_scale_device is the mixed-precision loss scale (f32 [1]): a device pointer
// for the launchers, read by the kernel (no host sync, graph-capturable), and a host pointer for
// the references. Applying it here, before the rounding to f16, keeps small gradients from
// underflowing. A label outside [0, cols) gives a NaN loss and gradient row (the reference throws
// ValueError).
struct ProbLossArgs {
  std::int64_t rows = 0, cols = 0;
  const std::int32_t* labels = nullptr;  // [rows], or null
  const float* targets = nullptr;        // [rows, cols], or null
  float* losses = nullptr;               // [rows]
  float grad_scale = 1.0f;
  const float* grad_scale_device = nullptr;  // [1] or null (see above)
  float eps = 1e-7f;
};
void crossentropy_probs(const ProbLossArgs& a, const float* pred, float* dpred, cudaStream_t stream);
void crossentropy_probs(const ProbLossArgs& a, const half* pred, half* dpred, cudaStream_t stream);
void crossentropy_probs_ref(const ProbLossArgs& a, const float* pred, float* dpred);
void crossentropy_probs_ref(const ProbLossArgs& a, const half* pred, half* dpred);

// Mean squared error over the last dimension: losses[i] = mean_c (pred - t)^2;
// dpred = 2 (pred - t) / cols * s (skipped when null; s as above). Uses args.targets.
void mse_loss(const ProbLossArgs& a, const float* pred, float* dpred, cudaStream_t stream);
void mse_loss(const ProbLossArgs& a, const half* pred, half* dpred, cudaStream_t stream);
void mse_loss_ref(const ProbLossArgs& a, const float* pred, float* dpred);
void mse_loss_ref(const ProbLossArgs& a, const half* pred, half* dpred);

// Adds one batch's loss and metric counts to device-resident double accumulators:
//   acc[0] += sum_i losses[i] (losses may be null: nothing added), acc[1] += rows,
//   acc[2 + j] += number of rows counted correct by metric j:
//     k_j == 1 and cols > 1: argmax(pred row) (first maximum) == label
//     k_j > 1: fewer than k_j classes score strictly above the label's score (ties count as in)
//     cols == 1 (binary): (pred > threshold) == (target > 0.5)
//   label: labels[i], or argmax of the dense targets row (first maximum).
// One block: the sums are deterministic for a given batch. At most kMaxMetrics metrics.
constexpr int kMaxMetrics = 4;
struct MetricArgs {
  std::int64_t rows = 0, cols = 0;
  const float* losses = nullptr;
  const std::int32_t* labels = nullptr;
  const float* targets = nullptr;
  int num_metrics = 0;
  int k[kMaxMetrics] = {1, 1, 1, 1};
  float binary_threshold = 0.5f;  // 0 when pred holds logits
};
void accumulate_metrics(const MetricArgs& a, const float* pred, double* acc, cudaStream_t stream);
void accumulate_metrics(const MetricArgs& a, const half* pred, double* acc, cudaStream_t stream);
void accumulate_metrics_ref(const MetricArgs& a, const float* pred, double* acc);
void accumulate_metrics_ref(const MetricArgs& a, const half* pred, double* acc);

// Dropout whose stream offset lives in device memory: offset = (*step) << 32. Masks and outputs
// equal kernels::dropout(x, y, n, rate, seed, (*step) << 32) (kernels/dropout.h: keep when the
// Philox uniform >= rate, kept values times the float 1/(1-rate)), whose CPU reference,
// dropout_ref, is this kernel's reference too. The offset being read on the device lets a captured
// CUDA graph replay a training step with fresh masks. y may alias x.
void dropout_at_step(const float* x, float* y, std::int64_t n, float rate, std::uint64_t seed,
                     const std::uint64_t* step, cudaStream_t stream);
void dropout_at_step(const half* x, half* y, std::int64_t n, float rate, std::uint64_t seed,
                     const std::uint64_t* step, cudaStream_t stream);
// *counter = value, and *counter += 1: one thread each (the training step counter on the device).
void set_step_counter(std::uint64_t* counter, std::uint64_t value, cudaStream_t stream);
void advance_step_counter(std::uint64_t* counter, cudaStream_t stream);

}  // namespace tilenet::kernels
