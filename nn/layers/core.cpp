#include "nn/layers/core.h"

#include "kernels/dropout.h"
#include "kernels/train_ops.h"
#include "nn/initializers.h"
#include "tensor/linalg.h"
#include "tensor/normalization.h"
#include "tensor/ops.h"
#include "tensor/softmax.h"
#include "tensor/stream.h"

namespace tilenet::nn {

ActivationKind parse_activation(const std::string& name) {
  if (name.empty() || name == "linear" || name == "none") return ActivationKind::linear;
  if (name == "relu") return ActivationKind::relu;
  if (name == "softmax") return ActivationKind::softmax;
  throw ValueError("unknown activation '" + name + "'; supported: \"linear\" (or \"\"), \"relu\", \"softmax\"");
}

const char* activation_name(ActivationKind a) {
  switch (a) {
    case ActivationKind::linear: return "linear";
    case ActivationKind::relu: return "relu";
    case ActivationKind::softmax: return "softmax";
  }
  return "?";
}

std::uint64_t mix_seed(std::uint64_t base, std::uint64_t index) {
  std::uint64_t z = base + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------------------
// Dense

Dense::Dense(std::int64_t units, const std::string& activation, bool use_bias, const std::string& kernel_initializer,
             const std::string& bias_initializer)
    : units_(units),
      act_(parse_activation(activation)),
      use_bias_(use_bias),
      kernel_init_(kernel_initializer),
      bias_init_(bias_initializer) {
  TILENET_CHECK(units > 0, ValueError, "Dense: units must be positive, got ", units);
  check_initializer(kernel_initializer);
  check_initializer(bias_initializer);
}

Shape Dense::build_impl(const Shape& in) {
  if (in.ndim() < 1) fail_shape("needs an input with at least one feature dimension, got " + batch_shape_str(in));
  in_ = in[-1];
  add_param("kernel", {in_, units_}, kernel_init_, true, in_, units_);
  if (use_bias_) add_param("bias", {units_}, bias_init_, true, in_, units_);
  std::vector<std::int64_t> out = in.vec();
  out.back() = units_;
  return Shape(out);
}

Tensor Dense::forward_impl(const Tensor& x, bool) {
  const std::int64_t batch = x.dim(0), rows = x.numel() / in_;
  Tensor z = buffer(0, batch, output_shape(), x.dtype(), x.device());
  Tensor z2 = z.reshape({rows, units_});
  const Tensor bias = use_bias_ ? params_[1].value : Tensor();
  matmul_into(x.reshape({rows, in_}), weight(params_[0], x.dtype()), z2, false, false, 1.0f, 0.0f, bias,
              act_ == ActivationKind::relu ? kernels::Activation::relu : kernels::Activation::none);
  x_ = x;
  z_ = z;
  if (act_ != ActivationKind::softmax || emit_logits()) {
    p_ = Tensor();
    return z;
  }
  p_ = buffer(1, batch, output_shape(), x.dtype(), x.device());
  softmax_into(z, p_);
  return p_;
}

Tensor Dense::backward_impl(const Tensor& dy) {
  Tensor g = dy;
  if (p_.defined()) {
    Tensor t = grad_scratch(dy, dy.shape(), dy.dtype());
    softmax_backward_into(p_, dy, t);
    g = t;
  } else if (act_ == ActivationKind::relu) {
    Tensor t = is_scratch(dy) ? dy : grad_scratch(dy, dy.shape(), dy.dtype());
    relu_backward_into(dy, z_, t);
    g = t;
  }
  const std::int64_t rows = g.numel() / units_;
  const Tensor g2 = g.reshape({rows, units_});
  matmul_into(x_.reshape({rows, in_}), g2, params_[0].grad, /*trans_a=*/true);
  if (use_bias_)
    column_sums_into(g2, params_[1].grad, false,
                     workspace(column_sums_workspace_size(g2.shape(), g2.device()), g2.device()));
  if (!needs_input_grad()) return Tensor();
  Tensor dx = grad_scratch(g, x_.shape(), g.dtype());
  Tensor dx2 = dx.reshape({rows, in_});
  matmul_into(g2, weight(params_[0], g.dtype()), dx2, false, /*trans_b=*/true);
  return dx;
}

// ---------------------------------------------------------------------------------------------
// Flatten

Shape Flatten::build_impl(const Shape& in) { return Shape{in.numel()}; }

Tensor Flatten::forward_impl(const Tensor& x, bool) { return x.reshape({x.dim(0), output_shape()[0]}); }

Tensor Flatten::backward_impl(const Tensor& dy) {
  if (!needs_input_grad()) return Tensor();
  return dy.reshape(with_batch(dy.dim(0), input_shape()).vec());
}

// ---------------------------------------------------------------------------------------------
// Activation

Activation::Activation(const std::string& activation) : act_(parse_activation(activation)), type_("Activation") {}

Tensor Activation::forward_impl(const Tensor& x, bool) {
  if (act_ == ActivationKind::linear || (act_ == ActivationKind::softmax && emit_logits())) {
    y_ = Tensor();
    return x;
  }
  y_ = buffer(0, x.dim(0), output_shape(), x.dtype(), x.device());
  if (act_ == ActivationKind::relu)
    relu_into(x, y_);
  else
    softmax_into(x, y_);
  return y_;
}

Tensor Activation::backward_impl(const Tensor& dy) {
  if (!y_.defined()) return needs_input_grad() ? dy : Tensor();
  if (!needs_input_grad()) return Tensor();
  if (act_ == ActivationKind::relu) {
    Tensor dx = is_scratch(dy) ? dy : grad_scratch(dy, dy.shape(), dy.dtype());
    relu_backward_into(dy, y_, dx);
    return dx;
  }
  Tensor dx = grad_scratch(dy, dy.shape(), dy.dtype());
  softmax_backward_into(y_, dy, dx);
  return dx;
}

// ---------------------------------------------------------------------------------------------
// Dropout

Dropout::Dropout(float rate, std::int64_t seed) : rate_(rate), seed_(seed) {
  kernels::check_dropout_rate(rate, "Dropout");
}

std::uint64_t Dropout::stream_seed() const {
  return seed_ >= 0 ? mix_seed(static_cast<std::uint64_t>(seed_), 0) : mix_seed(run_seed(), layer_index_);
}

Tensor Dropout::forward_impl(const Tensor& x, bool training) {
  active_ = training && rate_ > 0.0f;
  if (!active_) return x;
  // 2^32 stream elements per step: masks of different steps never overlap.
  offset_ = run_step() << 32;
  Tensor y = buffer(0, x.dim(0), output_shape(), x.dtype(), x.device());
  apply(x, y);
  return y;
}

void Dropout::apply(const Tensor& in, Tensor& out) const {
  // On CUDA the offset comes from the model's device step counter (equal to offset_ when the host
  // and device counters agree), so a captured CUDA graph draws fresh masks at every replay.
  if (in.is_cuda() && run_device_step()) {
    cudaStream_t s = cuda::current_stream(in.device().index);
    if (in.dtype() == DType::f32)
      kernels::dropout_at_step(in.data<float>(), out.data<float>(), in.numel(), rate_, stream_seed(), run_device_step(), s);
    else
      kernels::dropout_at_step(in.data<half>(), out.data<half>(), in.numel(), rate_, stream_seed(), run_device_step(), s);
    return;
  }
  dropout_forward_into(in, out, rate_, stream_seed(), offset_);
}

Tensor Dropout::backward_impl(const Tensor& dy) {
  if (!needs_input_grad()) return Tensor();
  if (!active_) return dy;
  Tensor dx = is_scratch(dy) ? dy : grad_scratch(dy, dy.shape(), dy.dtype());
  apply(dy, dx);  // the backward of inverted dropout is the same masked scaling
  return dx;
}

}  // namespace tilenet::nn
