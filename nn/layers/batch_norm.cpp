#include "nn/layers/batch_norm.h"

#include "tensor/normalization.h"

namespace tilenet::nn {

BatchNormalization::BatchNormalization(float momentum, float epsilon) : momentum_(momentum), epsilon_(epsilon) {
  TILENET_CHECK(momentum >= 0.0f && momentum <= 1.0f, ValueError,
                "BatchNormalization: momentum must be in [0, 1], got ", momentum);
  TILENET_CHECK(epsilon > 0.0f, ValueError, "BatchNormalization: epsilon must be positive, got ", epsilon);
}

Shape BatchNormalization::build_impl(const Shape& in) {
  if (in.ndim() < 1) fail_shape("needs at least one feature dimension, got " + batch_shape_str(in));
  const std::int64_t c = in[-1];
  add_param("gamma", {c}, "ones", true);
  add_param("beta", {c}, "zeros", true);
  add_param("moving_mean", {c}, "zeros", false);
  add_param("moving_variance", {c}, "ones", false);
  return in;
}

Tensor BatchNormalization::forward_impl(const Tensor& x, bool training) {
  Tensor y = buffer(0, x.dim(0), output_shape(), x.dtype(), x.device());
  Param& gamma = params_[0];
  Param& beta = params_[1];
  Param& mean = params_[2];
  Param& var = params_[3];
  trained_forward_ = training;
  if (!training) {
    batchnorm_forward_infer_into(x, gamma.value, beta.value, mean.value, var.value, y, epsilon_);
    return y;
  }
  const std::int64_t c = input_shape()[-1];
  if (!save_mean_.defined() || save_mean_.device() != x.device()) {
    save_mean_ = Tensor::empty({c}, DType::f32, x.device());
    save_invstd_ = Tensor::empty({c}, DType::f32, x.device());
  }
  // Scratch from the model's arena, not the allocator: warm steps allocate nothing (CUDA graphs).
  batchnorm_forward_train_into(x, gamma.value, beta.value, mean.value, var.value, y, save_mean_, save_invstd_,
                               momentum_, epsilon_, workspace(batchnorm_workspace_size(x), x.device()));
  x_ = x;
  return y;
}

Tensor BatchNormalization::backward_impl(const Tensor& dy) {
  if (!trained_forward_) throw ValueError(label() + ": backward needs a forward with training=true");
  // The kernel computes dx together with dgamma/dbeta, so dx is produced even for a first layer.
  Tensor dx = grad_scratch(dy, x_.shape(), dy.dtype());
  batchnorm_backward_into(dy, x_, params_[0].value, save_mean_, save_invstd_, dx, params_[0].grad, params_[1].grad,
                          /*accumulate=*/false, workspace(batchnorm_workspace_size(x_), x_.device()));
  return needs_input_grad() ? dx : Tensor();
}

}  // namespace tilenet::nn
