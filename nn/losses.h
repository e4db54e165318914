// Losses and metrics for compile(): Keras names and semantics.
//
// Losses (mean over the batch of a per-sample loss, Keras's "sum_over_batch_size"):
//   "categorical_crossentropy"        targets f32 [N, C] (one-hot or probabilities)
//   "sparse_categorical_crossentropy" targets i32 [N] (f32 [N] or [N, 1] integral values are accepted)
//   "mean_squared_error" / "mse"      targets f32 with the output's shape; per-sample mean over the last axis
// from_logits=false on probabilities follows Keras (normalise, clip to [1e-7, 1 - 1e-7]); when the
// model ends in a softmax (Dense(..., "softmax"), Softmax, Activation("softmax")) the model feeds
// the logits to the fused softmax cross-entropy kernel instead: the same loss, computed stably.
//
// Metrics: "accuracy" / "acc" (Keras picks: sparse labels -> sparse categorical accuracy, one-hot
// targets -> categorical accuracy, a single output unit -> binary accuracy at 0.5),
// "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
// "top_k_categorical_accuracy" and "sparse_top_k_categorical_accuracy" (k = 5 unless given).
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace tilenet::nn {

enum class LossKind { categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error };

struct Loss {
  LossKind kind = LossKind::sparse_categorical_crossentropy;
  bool from_logits = false;

  Loss(LossKind k, bool logits = false) : kind(k), from_logits(logits) {}  // NOLINT
  Loss(const std::string& name, bool logits = false);                       // NOLINT
  Loss(const char* name) : Loss(std::string(name)) {}                        // NOLINT
  std::string name() const;
  bool is_crossentropy() const { return kind != LossKind::mean_squared_error; }
  bool sparse() const { return kind == LossKind::sparse_categorical_crossentropy; }
};

namespace losses {
inline Loss CategoricalCrossentropy(bool from_logits = false) {
  return Loss(LossKind::categorical_crossentropy, from_logits);
}
inline Loss SparseCategoricalCrossentropy(bool from_logits = false) {
  return Loss(LossKind::sparse_categorical_crossentropy, from_logits);
}
inline Loss MeanSquaredError() { return Loss(LossKind::mean_squared_error); }
}  // namespace losses

struct Metric {
  std::string name;  // as given; "acc" is reported as "accuracy"
  int k = 0;         // top-k metrics: 0 means the default 5

  Metric(const std::string& n, int top_k = 0);  // NOLINT
  Metric(const char* n) : Metric(std::string(n)) {}  // NOLINT
  std::string display_name() const { return name == "acc" ? "accuracy" : name; }
};

// Validates targets y (N samples) against the loss and the model's per-sample output shape, and
// returns them in the dtype the kernels take (i32 labels for the sparse loss, f32 otherwise) on
// y's device. Throws ShapeError/DtypeError/ValueError naming `who`, what it got and expected.
// Integer labels are checked against [0, classes) when they are on the CPU, and on a GPU too when
// `check_device_labels` (one copy to the host: fit and evaluate, once before their loops; the
// per-batch calls leave it to the loss kernel, which turns a bad label's row into NaN).
Tensor prepare_targets(const Loss& loss, const Tensor& y, const Shape& output_shape, const char* who,
                       bool check_device_labels = false);

// Per-sample losses (f32 [B]) and, when `dpred` is defined, the gradient of the mean batch loss
// times grad_scale (pred's dtype and shape), times loss_scale[0] when loss_scale is defined (f32 [1]
// on pred's device: the mixed-precision loss scale, multiplied in before the gradient is rounded to
// f16 and, on CUDA, read on the device). pred_is_logits: pred holds logits (from_logits, or the
// fused softmax head).
void compute_loss(const Loss& loss, const Tensor& pred, bool pred_is_logits, const Tensor& target, Tensor& losses,
                  Tensor& dpred, float grad_scale, const Tensor& loss_scale = Tensor());

// The device-side metric plan: which k each metric counts, resolved from names and targets.
struct MetricPlan {
  std::vector<std::string> names;  // display names, in compile order
  std::vector<int> k;              // 1: (categorical or binary) accuracy, > 1: top-k
  bool binary = false;             // single output unit
};
MetricPlan plan_metrics(const std::vector<Metric>& metrics, const Loss& loss, const Tensor& targets,
                        const Shape& output_shape);

// acc (double [2 + metrics], on pred's device) += this batch's loss sum, row count and per-metric
// correct counts. One launch on CUDA.
void accumulate_metrics(const MetricPlan& plan, const Tensor& pred, bool pred_is_logits, const Tensor& target,
                        const Tensor& losses, Tensor& acc);

}  // namespace tilenet::nn
