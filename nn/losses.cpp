#include "nn/losses.h"

#include <cmath>

#include "kernels/train_ops.h"
#include "nn/layer.h"
#include "tensor/softmax.h"
#include "tensor/stream.h"

namespace tilenet::nn {

Loss::Loss(const std::string& name, bool logits) : from_logits(logits) {
  if (name == "categorical_crossentropy")
    kind = LossKind::categorical_crossentropy;
  else if (name == "sparse_categorical_crossentropy")
    kind = LossKind::sparse_categorical_crossentropy;
  else if (name == "mean_squared_error" || name == "mse")
    kind = LossKind::mean_squared_error;
  else
    throw ValueError("unknown loss '" + name +
                     "'; known: categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error (mse)");
}

std::string Loss::name() const {
  switch (kind) {
    case LossKind::categorical_crossentropy: return "categorical_crossentropy";
    case LossKind::sparse_categorical_crossentropy: return "sparse_categorical_crossentropy";
    case LossKind::mean_squared_error: return "mean_squared_error";
  }
  return "?";
}

Metric::Metric(const std::string& n, int top_k) : name(n), k(top_k) {
  static const char* const known[] = {"accuracy",
                                      "acc",
                                      "sparse_categorical_accuracy",
                                      "categorical_accuracy",
                                      "binary_accuracy",
                                      "top_k_categorical_accuracy",
                                      "sparse_top_k_categorical_accuracy"};
  for (const char* kname : known)
    if (n == kname) {
      TILENET_CHECK(top_k >= 0, ValueError, "metric ", n, ": k must be positive, got ", top_k);
      return;
    }
  throw ValueError("unknown metric '" + n +
                   "'; known: accuracy (acc), sparse_categorical_accuracy, categorical_accuracy, binary_accuracy, "
                   "top_k_categorical_accuracy, sparse_top_k_categorical_accuracy");
}

namespace {
// Throws ValueError naming `who` at the first label outside [0, classes).
void check_label_range(const std::vector<std::int32_t>& labels, std::int64_t classes, const char* who) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (!(labels[i] >= 0 && labels[i] < classes))
      throw ValueError(detail::make_message(who, ": label ", labels[i], " at index ", i, " is outside [0, ", classes,
                                            ") for a model with ", classes, " outputs"));
}
}  // namespace

Tensor prepare_targets(const Loss& loss, const Tensor& y, const Shape& out, const char* who,
                       bool check_device_labels) {
  check_defined(y, who, "y");
  const std::int64_t n = y.ndim() > 0 ? y.dim(0) : 0;
  if (loss.sparse()) {
    const bool shape_ok = y.ndim() == 1 || (y.ndim() == 2 && y.dim(1) == 1);
    if (!shape_ok || out.ndim() != 1)
      throw ShapeError(detail::make_message(who, ": sparse_categorical_crossentropy takes labels of shape (N,) for ",
                                            "outputs (None, classes); got labels ", y.shape().str(), " for outputs ",
                                            batch_shape_str(out)));
    const std::int64_t classes = out[0];
    if (y.dtype() == DType::i32) {
      if (y.device().is_cpu() || check_device_labels) check_label_range(y.to_ints(), classes, who);
      return y.reshape({n});
    }
    if (y.dtype() == DType::f16)
      throw DtypeError(detail::make_message(who, ": labels must be i32 (or integral f32), got f16"));
    // Keras accepts float labels holding integers: convert once (a host round trip, before training).
    std::vector<float> v = y.to_vector();
    std::vector<std::int32_t> labels(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] != std::floor(v[i]) || v[i] < 0 || v[i] > 2147483647.0f)
        throw ValueError(detail::make_message(who, ": label ", v[i], " at index ", i,
                                              " is not a non-negative integer"));
      labels[i] = static_cast<std::int32_t>(v[i]);
    }
    check_label_range(labels, classes, who);
    return Tensor::from_ints(labels, Shape{n}, y.device());
  }
  if (y.dtype() != DType::f32)
    throw DtypeError(detail::make_message(who, ": ", loss.name(), " takes f32 targets, got ", dtype_name(y.dtype()),
                                          loss.kind == LossKind::categorical_crossentropy
                                              ? " (integer labels need sparse_categorical_crossentropy)"
                                              : ""));
  if (y.shape() != with_batch(n, out))
    throw ShapeError(detail::make_message(who, ": ", loss.name(), " targets have shape ", y.shape().str(),
                                          ", expected ", with_batch(n, out).str(), " (the model output ",
                                          batch_shape_str(out), ")"));
  return y;
}

namespace {

template <typename F>
void by_float(const Tensor& t, F&& f) {
  if (t.dtype() == DType::f32)
    f(static_cast<float*>(nullptr));
  else if (t.dtype() == DType::f16)
    f(static_cast<half*>(nullptr));
  else
    throw DtypeError(std::string("loss: predictions must be f32 or f16, got ") + dtype_name(t.dtype()));
}

// The kernels take raw pointers and trust the sizes: a target, loss or gradient buffer that is too
// small would be read or written past its end, so the public entry points check them here.
void check_operands(const char* who, const Tensor& pred, bool labels, const Tensor& target, const Tensor& losses,
                    const Tensor* dpred) {
  TILENET_CHECK(pred.ndim() >= 1, ShapeError, who, ": predictions need a batch dimension, got ", pred.shape().str());
  const std::int64_t rows = pred.dim(0);
  if (labels)
    TILENET_CHECK(target.dtype() == DType::i32 && target.numel() == rows, ShapeError, who, ": labels ",
                  dtype_name(target.dtype()), " ", target.shape().str(), " for predictions ", pred.shape().str(),
                  ", expected i32 (", rows, ",)");
  else
    TILENET_CHECK(target.dtype() == DType::f32 && target.numel() == pred.numel() && target.dim(0) == rows,
                  ShapeError, who, ": targets ", dtype_name(target.dtype()), " ", target.shape().str(),
                  " for predictions ", pred.shape().str(), ", expected f32 of the predictions' shape");
  if (losses.defined())
    TILENET_CHECK(losses.dtype() == DType::f32 && losses.numel() >= rows, ShapeError, who, ": losses ",
                  dtype_name(losses.dtype()), " ", losses.shape().str(), ", expected f32 with at least ", rows,
                  " elements");
  if (dpred && dpred->defined())
    TILENET_CHECK(dpred->dtype() == pred.dtype() && dpred->numel() == pred.numel(), ShapeError, who, ": gradient ",
                  dtype_name(dpred->dtype()), " ", dpred->shape().str(), ", expected ", dtype_name(pred.dtype()), " ",
                  pred.shape().str());
}

}  // namespace

void compute_loss(const Loss& loss, const Tensor& pred, bool pred_is_logits, const Tensor& target, Tensor& losses,
                  Tensor& dpred, float grad_scale, const Tensor& loss_scale) {
  // The kernels take raw pointers: a tensor on another device would be a fault, not an error.
  TILENET_CHECK(losses.defined(), ValueError, "loss: the losses tensor is undefined");
  check_same_device(pred, target, "loss");
  check_same_device(pred, losses, "loss");
  if (dpred.defined()) check_same_device(pred, dpred, "loss");
  check_operands("loss", pred, loss.sparse(), target, losses, &dpred);
  const std::int64_t rows = pred.dim(0), cols = pred.numel() / std::max<std::int64_t>(rows, 1);
  const bool grads = dpred.defined();
  if (loss.is_crossentropy() && pred_is_logits) {
    Tensor logits = pred.reshape({rows, cols});
    Tensor d = grads ? dpred.reshape({rows, cols}) : Tensor();
    if (loss.sparse())
      softmax_cross_entropy_into(logits, target, losses, d, grad_scale, loss_scale);
    else
      softmax_cross_entropy_soft_into(logits, target.reshape({rows, cols}), losses, d, grad_scale, loss_scale);
    return;
  }
  kernels::ProbLossArgs a;
  a.rows = rows;
  a.cols = cols;
  a.losses = losses.data<float>();
  a.grad_scale = grad_scale;
  if (loss_scale.defined()) {
    TILENET_CHECK(loss_scale.device() == pred.device() && loss_scale.dtype() == DType::f32 && loss_scale.numel() == 1,
                  ValueError, "loss: loss_scale must be f32 [1] on ", pred.device().str(), ", got ",
                  dtype_name(loss_scale.dtype()), " ", loss_scale.shape().str(), " on ", loss_scale.device().str());
    a.grad_scale_device = loss_scale.data<float>();  // device memory on CUDA, host memory on the CPU
  }
  if (loss.sparse())
    a.labels = target.data<std::int32_t>();
  else
    a.targets = target.data<float>();
  const bool mse = loss.kind == LossKind::mean_squared_error;
  by_float(pred, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* d = grads ? dpred.data<T>() : nullptr;
    if (pred.is_cuda()) {
      cudaStream_t s = cuda::current_stream(pred.device().index);
      if (mse)
        kernels::mse_loss(a, pred.data<T>(), d, s);
      else
        kernels::crossentropy_probs(a, pred.data<T>(), d, s);
    } else if (mse) {
      kernels::mse_loss_ref(a, pred.data<T>(), d);
    } else {
      kernels::crossentropy_probs_ref(a, pred.data<T>(), d);
    }
  });
}

MetricPlan plan_metrics(const std::vector<Metric>& metrics, const Loss& loss, const Tensor& targets,
                        const Shape& out) {
  MetricPlan plan;
  const bool sparse_labels = targets.dtype() == DType::i32;
  const std::int64_t classes = out.ndim() == 1 ? out[0] : 0;
  plan.binary = classes == 1;
  TILENET_CHECK(static_cast<int>(metrics.size()) <= kernels::kMaxMetrics, ValueError, "compile: at most ",
                kernels::kMaxMetrics, " metrics, got ", metrics.size());
  for (const Metric& m : metrics) {
    const std::string n = m.display_name();
    TILENET_CHECK(out.ndim() == 1, ShapeError, "metric ", n, ": needs outputs of shape (None, classes), got ",
                  batch_shape_str(out));
    int k = 1;
    if (n == "top_k_categorical_accuracy" || n == "sparse_top_k_categorical_accuracy") k = m.k > 0 ? m.k : 5;
    const bool wants_sparse = n.rfind("sparse_", 0) == 0;
    const bool wants_dense = n == "categorical_accuracy" || n == "top_k_categorical_accuracy";
    if (wants_sparse && !sparse_labels)
      throw ValueError("metric " + n + " needs integer labels (N,); the targets are " + targets.shape().str() +
                       " f32: use " + n.substr(7));
    if (wants_dense && sparse_labels)
      throw ValueError("metric " + n + " needs one-hot targets; the labels are integers: use sparse_" + n);
    if (n == "binary_accuracy" && !plan.binary)
      throw ValueError("metric binary_accuracy needs a single output unit, the model has " + std::to_string(classes));
    if (plan.binary && k > 1) throw ValueError("metric " + n + " needs more than one output unit");
    (void)loss;
    plan.names.push_back(n);
    plan.k.push_back(k);
  }
  return plan;
}

void accumulate_metrics(const MetricPlan& plan, const Tensor& pred, bool pred_is_logits, const Tensor& target,
                        const Tensor& losses, Tensor& acc) {
  check_same_device(pred, target, "metrics");
  check_same_device(pred, acc, "metrics");
  if (losses.defined()) check_same_device(pred, losses, "metrics");
  check_operands("metrics", pred, target.dtype() == DType::i32, target, losses, nullptr);
  const std::size_t acc_bytes = (2 + plan.k.size()) * sizeof(double);
  TILENET_CHECK(acc.nbytes() >= acc_bytes, ShapeError, "metrics: accumulator ",
                dtype_name(acc.dtype()), " ", acc.shape().str(), " holds ", acc.nbytes(), " bytes, expected ",
                acc_bytes, " (", 2 + plan.k.size(), " doubles)");
  kernels::MetricArgs a;
  a.rows = pred.dim(0);
  a.cols = pred.numel() / std::max<std::int64_t>(a.rows, 1);
  a.losses = losses.defined() ? losses.data<float>() : nullptr;
  if (target.dtype() == DType::i32)
    a.labels = target.data<std::int32_t>();
  else
    a.targets = target.data<float>();
  a.num_metrics = static_cast<int>(plan.k.size());
  for (int j = 0; j < a.num_metrics; ++j) a.k[j] = plan.k[j];
  a.binary_threshold = pred_is_logits ? 0.0f : 0.5f;
  double* out = static_cast<double*>(acc.raw_data());
  by_float(pred, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (pred.is_cuda())
      kernels::accumulate_metrics(a, pred.data<T>(), out, cuda::current_stream(pred.device().index));
    else
      kernels::accumulate_metrics_ref(a, pred.data<T>(), out);
  });
}

}  // namespace tilenet::nn
