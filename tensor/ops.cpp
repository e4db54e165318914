#include "tensor/ops.h"

#include <vector>

#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "tensor/memory.h"
#include "tensor/op_util.h"

namespace tilenet {
namespace {

using detail::by_dtype;
using detail::stream_of;

void check_binary(const Tensor& a, const Tensor& b, const Tensor& out, const char* op) {
  check_defined(a, op, "a");
  detail::check_like(a, b, op, "b");
  detail::check_like(a, out, op, "out");
}

void binary_into(kernels::BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const char* name = kernels::binary_op_name(op);
  check_binary(a, b, out, name);
  by_dtype(a, name, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (a.is_cuda())
      kernels::binary(op, a.data<T>(), b.data<T>(), out.data<T>(), a.numel(), stream_of(a));
    else
      kernels::binary_ref(op, a.data<T>(), b.data<T>(), out.data<T>(), a.numel());
  });
}

Tensor binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b) {
  check_defined(a, kernels::binary_op_name(op), "a");
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  binary_into(op, a, b, out);
  return out;
}

Tensor reduce(kernels::ReduceOp op, const Tensor& x, bool lastdim, const char* name) {
  check_defined(x, name, "x");
  Shape out_shape{1};
  std::int64_t rows = 1, cols = x.numel();
  if (lastdim) {
    if (x.ndim() == 0) throw ShapeError(detail::make_message(name, ": input is 0-D, expected at least 1-D"));
    std::vector<std::int64_t> d = x.shape().vec();
    cols = d.back();
    d.pop_back();
    out_shape = d.empty() ? Shape{1} : Shape(d);
    rows = x.shape().rows();
  }
  Tensor out = Tensor::empty(out_shape, DType::f32, x.device());
  by_dtype(x, name, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda()) {
      if (lastdim) {
        kernels::reduce_lastdim(op, x.data<T>(), rows, cols, out.data<float>(), stream_of(x));
      } else {
        DeviceBuffer ws(kernels::reduce_all_workspace_bytes(cols), x.device().index, stream_of(x));
        kernels::reduce_all(op, x.data<T>(), cols, out.data<float>(), ws.data(), stream_of(x));
      }
    } else if (lastdim) {
      kernels::reduce_lastdim_ref(op, x.data<T>(), rows, cols, out.data<float>());
    } else {
      out.data<float>()[0] = kernels::reduce_all_ref(op, x.data<T>(), cols);
    }
  });
  return out;
}

}  // namespace

void fill_(Tensor& t, float value) {
  check_defined(t, "fill_", "t");
  by_dtype(t, "fill_", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (t.is_cuda())
      kernels::fill(t.data<T>(), t.numel(), value, stream_of(t));
    else
      kernels::fill_ref(t.data<T>(), t.numel(), value);
  });
}

void scale_(Tensor& t, float alpha) {
  check_defined(t, "scale_", "t");
  by_dtype(t, "scale_", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (t.is_cuda())
      kernels::scale(t.data<T>(), t.data<T>(), t.numel(), alpha, stream_of(t));
    else
      kernels::scale_ref(t.data<T>(), t.data<T>(), t.numel(), alpha);
  });
}

void axpy_(float alpha, const Tensor& x, Tensor& y) {
  check_binary(x, y, y, "axpy_");
  by_dtype(x, "axpy_", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::axpy(alpha, x.data<T>(), y.data<T>(), x.numel(), stream_of(x));
    else
      kernels::axpy_ref(alpha, x.data<T>(), y.data<T>(), x.numel());
  });
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::div, a, b); }
void add_into(const Tensor& a, const Tensor& b, Tensor& out) { binary_into(kernels::BinaryOp::add, a, b, out); }
void mul_into(const Tensor& a, const Tensor& b, Tensor& out) { binary_into(kernels::BinaryOp::mul, a, b, out); }

void add_bias_into(const Tensor& x, const Tensor& bias, Tensor& out) {
  const char* op = "add_bias";
  check_defined(x, op, "x");
  detail::check_matches(x, bias, op, "bias");
  detail::check_like(x, out, op, "out");
  if (x.ndim() == 0 || bias.ndim() != 1 || bias.dim(0) != x.dim(-1))
    throw ShapeError(detail::make_message(op, ": bias has shape ", bias.shape().str(), ", expected (",
                                          x.ndim() ? x.dim(-1) : 0, ",) to match the last dimension of x ",
                                          x.shape().str()));
  const std::int64_t rows = x.shape().rows(), cols = x.shape().cols();
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::add_bias(x.data<T>(), bias.data<T>(), out.data<T>(), rows, cols, stream_of(x));
    else
      kernels::add_bias_ref(x.data<T>(), bias.data<T>(), out.data<T>(), rows, cols);
  });
}

Tensor add_bias(const Tensor& x, const Tensor& bias) {
  check_defined(x, "add_bias", "x");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  add_bias_into(x, bias, out);
  return out;
}

void relu_into(const Tensor& x, Tensor& out) {
  check_binary(x, x, out, "relu");
  by_dtype(x, "relu", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::relu(x.data<T>(), out.data<T>(), x.numel(), stream_of(x));
    else
      kernels::relu_ref(x.data<T>(), out.data<T>(), x.numel());
  });
}

Tensor relu(const Tensor& x) {
  check_defined(x, "relu", "x");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  relu_into(x, out);
  return out;
}

void relu_backward_into(const Tensor& dy, const Tensor& x, Tensor& dx) {
  check_binary(dy, x, dx, "relu_backward");
  by_dtype(x, "relu_backward", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::relu_backward(dy.data<T>(), x.data<T>(), dx.data<T>(), x.numel(), stream_of(x));
    else
      kernels::relu_backward_ref(dy.data<T>(), x.data<T>(), dx.data<T>(), x.numel());
  });
}

Tensor relu_backward(const Tensor& dy, const Tensor& x) {
  check_defined(dy, "relu_backward", "dy");
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  relu_backward_into(dy, x, dx);
  return dx;
}

Tensor sum(const Tensor& x) { return reduce(kernels::ReduceOp::sum, x, false, "sum"); }
Tensor max(const Tensor& x) { return reduce(kernels::ReduceOp::max, x, false, "max"); }
Tensor sum_lastdim(const Tensor& x) { return reduce(kernels::ReduceOp::sum, x, true, "sum_lastdim"); }
Tensor max_lastdim(const Tensor& x) { return reduce(kernels::ReduceOp::max, x, true, "max_lastdim"); }

}  // namespace tilenet
