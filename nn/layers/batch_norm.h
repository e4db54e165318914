// BatchNormalization over the last axis (channels of NHWC, features of [batch, F]), Keras
// semantics: momentum 0.99, epsilon 1e-3; training normalises with the batch statistics and moves
// moving_mean / moving_variance towards them (moving = momentum * moving + (1 - momentum) * batch);
// inference uses the moving statistics. gamma and beta are trainable, the moving statistics are
// non-trainable state (counted as "Non-trainable params" in the summary, saved with the weights).
#pragma once

#include "nn/layer.h"

namespace tilenet::nn {

class BatchNormalization : public Layer {
 public:
  explicit BatchNormalization(float momentum = 0.99f, float epsilon = 1e-3f);
  std::string type() const override { return "BatchNormalization"; }
  float momentum() const { return momentum_; }
  float epsilon() const { return epsilon_; }

 protected:
  Shape build_impl(const Shape& in) override;
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
  // The batch statistics stay: a captured training step writes them (and they are c floats).
  void clear_cache_impl() override { x_ = Tensor(); }

 private:
  float momentum_, epsilon_;
  Tensor x_, save_mean_, save_invstd_;
  bool trained_forward_ = false;
};

}  // namespace tilenet::nn
