// Softmax family on Tensors: argument checks naming the op, then cuda -> kernels/softmax.cu,
// cpu -> kernels/softmax_ref.cpp.
#include "tensor/softmax.h"

#include "kernels/softmax.h"
#include "tensor/op_util.h"

namespace tilenet {
namespace {

using detail::by_dtype;
using detail::check_float;
using detail::check_like;
using detail::check_shape;
using detail::stream_of;


void check_rows(const Tensor& x, const char* op) {
  TILENET_CHECK(x.ndim() >= 1 && x.shape().cols() >= 1, ShapeError, op, ": input has shape ", x.shape().str(),
                ", expected at least 1-D with a non-empty last dimension");
}

void forward(const Tensor& x, Tensor& y, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_float(x, op, "x");
  check_like(x, y, op, "y");
  check_rows(x, op);
  const std::int64_t rows = x.shape().rows(), cols = x.shape().cols();
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::softmax_forward(x.data<T>(), y.data<T>(), rows, cols, log, stream_of(x));
    else
      kernels::softmax_forward_ref(x.data<T>(), y.data<T>(), rows, cols, log);
  });
}

void backward(const Tensor& y, const Tensor& dy, Tensor& dx, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_float(y, op, "y");
  check_like(y, dy, op, "dy");
  check_like(y, dx, op, "dx");
  check_rows(y, op);
  const std::int64_t rows = y.shape().rows(), cols = y.shape().cols();
  by_dtype(y, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (y.is_cuda())
      kernels::softmax_backward(y.data<T>(), dy.data<T>(), dx.data<T>(), rows, cols, log, stream_of(y));
    else
      kernels::softmax_backward_ref(y.data<T>(), dy.data<T>(), dx.data<T>(), rows, cols, log);
  });
}

// Checks shared by both cross-entropy forms: logits [N, C], losses f32 [N], dlogits like logits.
void check_cross_entropy(const Tensor& logits, Tensor& losses, Tensor& dlogits, const char* op) {
  check_float(logits, op, "logits");
  TILENET_CHECK(logits.ndim() == 2 && logits.dim(1) >= 1, ShapeError, op, ": logits have shape ",
                logits.shape().str(), ", expected 2-D [N, C] with C >= 1");
  check_defined(losses, op, "losses");
  check_same_device(logits, losses, op);
  TILENET_CHECK(losses.dtype() == DType::f32, DtypeError, op, ": losses must be f32, got ",
                dtype_name(losses.dtype()));
  TILENET_CHECK(losses.shape() == Shape{logits.dim(0)}, ShapeError, op, ": losses have shape ",
                losses.shape().str(), ", expected (", logits.dim(0), ",)");
  if (dlogits.defined()) check_like(logits, dlogits, op, "dlogits");
}

// The loss-scale factor's pointer: device memory on CUDA (read by the kernel), host memory on the
// CPU (read by the reference); null when undefined.
const float* loss_scale_ptr(const Tensor& loss_scale, const Tensor& logits, const char* op) {
  if (!loss_scale.defined()) return nullptr;
  check_same_device(logits, loss_scale, op);
  TILENET_CHECK(loss_scale.dtype() == DType::f32 && loss_scale.numel() == 1, DtypeError, op,
                ": loss_scale must be f32 with one element, got ", dtype_name(loss_scale.dtype()), " ",
                loss_scale.shape().str());
  return loss_scale.data<float>();
}

}  // namespace

void softmax_into(const Tensor& x, Tensor& y) { forward(x, y, false); }
void log_softmax_into(const Tensor& x, Tensor& y) { forward(x, y, true); }
void softmax_backward_into(const Tensor& y, const Tensor& dy, Tensor& dx) { backward(y, dy, dx, false); }
void log_softmax_backward_into(const Tensor& y, const Tensor& dy, Tensor& dx) { backward(y, dy, dx, true); }

void softmax_cross_entropy_into(const Tensor& logits, const Tensor& labels, Tensor& losses, Tensor& dlogits,
                                float grad_scale, const Tensor& loss_scale) {
  const char* op = "softmax_cross_entropy";
  check_cross_entropy(logits, losses, dlogits, op);
  check_defined(labels, op, "labels");
  check_same_device(logits, labels, op);
  TILENET_CHECK(labels.dtype() == DType::i32, DtypeError, op, ": labels must be i32 class indices, got ",
                dtype_name(labels.dtype()));
  TILENET_CHECK(labels.shape() == Shape{logits.dim(0)}, ShapeError, op, ": labels have shape ", labels.shape().str(),
                ", expected (", logits.dim(0), ",) for logits ", logits.shape().str());
  const std::int64_t rows = logits.dim(0), cols = logits.dim(1);
  const float* factor = loss_scale_ptr(loss_scale, logits, op);
  if (!logits.is_cuda()) {
    const std::int32_t* lab = labels.data<std::int32_t>();
    for (std::int64_t r = 0; r < rows; ++r)
      TILENET_CHECK(lab[r] >= 0 && lab[r] < cols, ValueError, op, ": label ", lab[r], " of row ", r,
                    " is outside [0, ", cols, ")");
  }
  by_dtype(logits, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* dl = dlogits.defined() ? dlogits.data<T>() : nullptr;
    if (logits.is_cuda())
      kernels::softmax_cross_entropy(logits.data<T>(), labels.data<std::int32_t>(), losses.data<float>(), dl, rows,
                                     cols, grad_scale, factor, stream_of(logits));
    else
      kernels::softmax_cross_entropy_ref(logits.data<T>(), labels.data<std::int32_t>(), losses.data<float>(), dl,
                                         rows, cols, grad_scale, factor);
  });
}

void softmax_cross_entropy_soft_into(const Tensor& logits, const Tensor& targets, Tensor& losses, Tensor& dlogits,
                                     float grad_scale, const Tensor& loss_scale) {
  const char* op = "softmax_cross_entropy_soft";
  check_cross_entropy(logits, losses, dlogits, op);
  check_defined(targets, op, "targets");
  check_same_device(logits, targets, op);
  TILENET_CHECK(targets.dtype() == DType::f32, DtypeError, op, ": targets must be f32 probabilities, got ",
                dtype_name(targets.dtype()));
  TILENET_CHECK(targets.shape() == logits.shape(), ShapeError, op, ": targets have shape ", targets.shape().str(),
                ", expected ", logits.shape().str());
  const std::int64_t rows = logits.dim(0), cols = logits.dim(1);
  const float* factor = loss_scale_ptr(loss_scale, logits, op);
  by_dtype(logits, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* dl = dlogits.defined() ? dlogits.data<T>() : nullptr;
    if (logits.is_cuda())
      kernels::softmax_cross_entropy_soft(logits.data<T>(), targets.data<float>(), losses.data<float>(), dl, rows,
                                          cols, grad_scale, factor, stream_of(logits));
    else
      kernels::softmax_cross_entropy_soft_ref(logits.data<T>(), targets.data<float>(), losses.data<float>(), dl,
                                              rows, cols, grad_scale, factor);
  });
}

}  // namespace tilenet
