#include "nn/layers/conv.h"

#include <algorithm>

#include "nn/initializers.h"
#include "tensor/linalg.h"
#include "tensor/ops.h"

namespace tilenet::nn {

Size2::Size2(std::initializer_list<int> l) {
  TILENET_CHECK(l.size() == 1 || l.size() == 2, ValueError, "a 2-D size takes one or two values, got ", l.size());
  h = *l.begin();
  w = l.size() == 2 ? *(l.begin() + 1) : h;
}

std::int64_t padded_extent(const std::string& who, const std::string& padding, std::int64_t in, int window,
                           int stride, int& pad_before, int& pad_after) {
  TILENET_CHECK(window >= 1 && stride >= 1, ValueError, who, ": window ", window, " and stride ", stride,
                " must be positive");
  if (padding == "valid") {
    pad_before = pad_after = 0;
    if (in < window)
      throw ShapeError(detail::make_message(who, ": a window of ", window, " does not fit an input extent of ", in,
                                            " with padding \"valid\""));
    return (in - window) / stride + 1;
  }
  if (padding == "same") {
    const std::int64_t out = (in + stride - 1) / stride;
    const std::int64_t total = std::max<std::int64_t>((out - 1) * stride + window - in, 0);
    pad_before = static_cast<int>(total / 2);
    pad_after = static_cast<int>(total - total / 2);
    return out;
  }
  throw ValueError(who + ": padding must be \"valid\" or \"same\", got \"" + padding + "\"");
}

// ---------------------------------------------------------------------------------------------
// Conv2D

Conv2D::Conv2D(std::int64_t filters, Size2 kernel_size, Size2 strides, const std::string& padding,
               const std::string& activation, bool use_bias, const std::string& kernel_initializer,
               const std::string& bias_initializer)
    : filters_(filters),
      kernel_(kernel_size),
      strides_(strides),
      padding_(padding),
      act_(parse_activation(activation)),
      use_bias_(use_bias),
      kernel_init_(kernel_initializer),
      bias_init_(bias_initializer) {
  TILENET_CHECK(filters > 0, ValueError, "Conv2D: filters must be positive, got ", filters);
  TILENET_CHECK(kernel_.h > 0 && kernel_.w > 0 && strides_.h > 0 && strides_.w > 0, ValueError,
                "Conv2D: kernel_size and strides must be positive, got kernel ", kernel_.h, "x", kernel_.w,
                " strides ", strides_.h, "x", strides_.w);
  TILENET_CHECK(padding == "valid" || padding == "same", ValueError,
                "Conv2D: padding must be \"valid\" or \"same\", got \"", padding, "\"");
  TILENET_CHECK(act_ != ActivationKind::softmax, ValueError,
                "Conv2D: activation \"softmax\" is not supported; add a Softmax layer");
  check_initializer(kernel_initializer);
  check_initializer(bias_initializer);
}

Shape Conv2D::build_impl(const Shape& in) {
  if (in.ndim() != 3) fail_shape("expects (height, width, channels) inputs, got " + batch_shape_str(in));
  const std::int64_t c = in[2];
  opt_ = Conv2dOptions{};
  opt_.stride_h = strides_.h;
  opt_.stride_w = strides_.w;
  const std::int64_t p = padded_extent(label(), padding_, in[0], kernel_.h, strides_.h, opt_.pad_top, opt_.pad_bottom);
  const std::int64_t q = padded_extent(label(), padding_, in[1], kernel_.w, strides_.w, opt_.pad_left, opt_.pad_right);
  const std::int64_t rs = static_cast<std::int64_t>(kernel_.h) * kernel_.w;
  add_param("kernel", {filters_, kernel_.h, kernel_.w, c}, kernel_init_, true, rs * c, rs * filters_);
  if (use_bias_) add_param("bias", {filters_}, bias_init_, true, rs * c, rs * filters_);
  return Shape{p, q, filters_};
}

// A workspace per call from the caching allocator would make every CUDA step allocate (and a CUDA
// graph capture of the step fail): the kernels' scratch comes from the model's arena instead, sized
// for the convolution passes this layer runs (backward-data only when its input gradient is
// needed) and the bias gradient's column sums alike.
Tensor Conv2D::conv_workspace(const Tensor& x) {
  if (!x.is_cuda()) return Tensor();
  std::size_t bytes = conv2d_workspace_size(x.shape(), params_[0].shape, opt_, x.dtype(), needs_input_grad());
  if (use_bias_) {
    const Shape y = conv2d_output_shape(x.shape(), params_[0].shape, opt_);
    bytes = std::max(bytes, column_sums_workspace_size(Shape{y.numel() / filters_, filters_}, x.device()));
  }
  return workspace(bytes, x.device());
}

Tensor Conv2D::forward_impl(const Tensor& x, bool) {
  Tensor y = buffer(0, x.dim(0), output_shape(), x.dtype(), x.device());
  const Tensor bias = use_bias_ ? params_[1].value : Tensor();
  conv2d_forward_into(x, weight(params_[0], x.dtype()), bias, y, opt_,
                      act_ == ActivationKind::relu ? kernels::Activation::relu : kernels::Activation::none,
                      conv_workspace(x));
  x_ = x;
  y_ = y;
  return y;
}

Tensor Conv2D::backward_impl(const Tensor& dy) {
  Tensor g = dy;
  if (act_ == ActivationKind::relu) {
    g = is_scratch(dy) ? dy : grad_scratch(dy, dy.shape(), dy.dtype());
    relu_backward_into(dy, y_, g);
  }
  if (use_bias_)
    column_sums_into(g.reshape({g.numel() / filters_, filters_}), params_[1].grad, false, conv_workspace(x_));
  conv2d_backward_filter_into(x_, g, params_[0].grad, opt_, /*accumulate=*/false, conv_workspace(x_));
  if (!needs_input_grad()) return Tensor();
  Tensor dx = grad_scratch(g, x_.shape(), g.dtype());
  conv2d_backward_data_into(g, weight(params_[0], g.dtype()), dx, opt_, conv_workspace(x_));
  return dx;
}

// ---------------------------------------------------------------------------------------------
// Pooling

Pool2DBase::Pool2DBase(Size2 pool_size, int strides_h, int strides_w, const std::string& padding) : padding_(padding) {
  TILENET_CHECK(pool_size.h > 0 && pool_size.w > 0 && strides_h >= 0 && strides_w >= 0, ValueError,
                "pooling: pool_size must be positive and strides non-negative (0: pool_size), got pool ", pool_size.h,
                "x", pool_size.w, " strides ", strides_h, "x", strides_w);
  TILENET_CHECK(padding == "valid" || padding == "same", ValueError,
                "pooling: padding must be \"valid\" or \"same\", got \"", padding, "\"");
  opt_.kernel_h = pool_size.h;
  opt_.kernel_w = pool_size.w;
  opt_.stride_h = strides_h > 0 ? strides_h : pool_size.h;
  opt_.stride_w = strides_w > 0 ? strides_w : pool_size.w;
}

Shape Pool2DBase::build_impl(const Shape& in) {
  if (in.ndim() != 3) fail_shape("expects (height, width, channels) inputs, got " + batch_shape_str(in));
  const std::int64_t p = padded_extent(label(), padding_, in[0], opt_.kernel_h, opt_.stride_h, opt_.pad_top, opt_.pad_bottom);
  const std::int64_t q = padded_extent(label(), padding_, in[1], opt_.kernel_w, opt_.stride_w, opt_.pad_left, opt_.pad_right);
  return Shape{p, q, in[2]};
}

Tensor MaxPool2D::forward_impl(const Tensor& x, bool training) {
  Tensor y = buffer(0, x.dim(0), output_shape(), x.dtype(), x.device());
  indices_ = training ? buffer(1, x.dim(0), output_shape(), DType::i32, x.device()) : Tensor();
  max_pool2d_forward_into(x, y, indices_, opt_);
  return y;
}

Tensor MaxPool2D::backward_impl(const Tensor& dy) {
  if (!needs_input_grad()) return Tensor();
  if (!indices_.defined()) throw ValueError(label() + ": backward needs a forward with training=true");
  Tensor dx = grad_scratch(dy, with_batch(dy.dim(0), input_shape()), dy.dtype());
  max_pool2d_backward_into(dy, indices_, dx, opt_);
  return dx;
}

Tensor AveragePooling2D::forward_impl(const Tensor& x, bool) {
  Tensor y = buffer(0, x.dim(0), output_shape(), x.dtype(), x.device());
  avg_pool2d_forward_into(x, y, opt_);
  return y;
}

Tensor AveragePooling2D::backward_impl(const Tensor& dy) {
  if (!needs_input_grad()) return Tensor();
  Tensor dx = grad_scratch(dy, with_batch(dy.dim(0), input_shape()), dy.dtype());
  avg_pool2d_backward_into(dy, dx, opt_);
  return dx;
}

Shape GlobalAveragePooling2D::build_impl(const Shape& in) {
  if (in.ndim() != 3) fail_shape("expects (height, width, channels) inputs, got " + batch_shape_str(in));
  return Shape{in[2]};
}

Tensor GlobalAveragePooling2D::forward_impl(const Tensor& x, bool) {
  Tensor y = buffer(0, x.dim(0), output_shape(), x.dtype(), x.device());
  global_avg_pool_forward_into(x, y);
  return y;
}

Tensor GlobalAveragePooling2D::backward_impl(const Tensor& dy) {
  if (!needs_input_grad()) return Tensor();
  Tensor dx = grad_scratch(dy, with_batch(dy.dim(0), input_shape()), dy.dtype());
  global_avg_pool_backward_into(dy, dx);
  return dx;
}

}  // namespace tilenet::nn
