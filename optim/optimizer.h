// Optimizers update a model's flat parameter buffer from its flat gradient buffer: one fused
// launch per step on CUDA (kernels/optimizer.h), the CPU reference on the host.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace tilenet::optim {

// Device-side controls for mixed precision, so a training step needs no host synchronisation
// (and can be captured in a CUDA graph). Undefined tensors are unused.
struct StepControl {
  Tensor inv_scale;  // f32 [1] on the params' device: every gradient is multiplied by it (1/loss_scale)
  Tensor skip;       // f32 [1]: when nonzero (a gradient was inf/nan) the whole update is skipped,
                     // including the step counter used for bias correction
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // params (f32 [P]) updated in place from grads (f32 [P]); both on the same device.
  // Gradient clipping by global norm (clipnorm > 0) happens here, after unscaling.
  virtual void step(Tensor& params, const Tensor& grads, const StepControl& control = {}) = 0;

  virtual std::string name() const = 0;
  float learning_rate() const { return lr_; }
  void set_learning_rate(float lr);
  // Steps requested so far (skipped ones included; the bias-correction counter lives with the
  // optimizer's state on the device and counts applied steps only).
  std::int64_t iterations() const { return iterations_; }
  // Clip the global gradient norm to this value before the update; 0 disables.
  void set_clipnorm(float clipnorm);
  float clipnorm() const { return clipnorm_; }

  // Slot tensors (moments, velocities) and hyper-parameters, for checkpoints. load_state()
  // validates names and shapes and throws ValueError/ShapeError naming what differs.
  virtual std::vector<std::pair<std::string, Tensor>> state() const = 0;
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state) = 0;

 protected:
  explicit Optimizer(float lr);
  float lr_;
  float clipnorm_ = 0.0f;
  std::int64_t iterations_ = 0;
};

}  // namespace tilenet::optim
