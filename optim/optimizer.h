// Optimizers update a model's flat parameter buffer from its flat gradient buffer: one fused
// launch per step on CUDA (kernels/optimizer.h), the CPU reference on the host.
//
// Semantics follow Keras 3 (keras.optimizers.*) where Keras and PyTorch differ:
// - Adam/AdamW epsilon is Keras's "epsilon hat": p -= lr_t * m / (sqrt(v) + eps) with
//   lr_t = lr*sqrt(1-b2^t)/(1-b1^t) and default eps 1e-7. PyTorch adds eps to the bias-corrected
//   sqrt(v_hat) (eps 1e-8): the two differ only while sqrt(v) is near eps.
// - RMSprop puts epsilon inside the square root (g / sqrt(v + eps), eps 1e-7, rho 0.9); PyTorch
//   uses g / (sqrt(v) + eps) with eps 1e-8 and alpha 0.99. Keras's momentum buffer accumulates
//   lr * g / sqrt(...) (PyTorch's too).
// - SGD momentum keeps Keras's velocity m = momentum*m - lr*g (it includes lr). PyTorch keeps
//   b = momentum*b + g and steps by lr*b: identical for a constant lr, not when lr changes.
// - weight_decay is decoupled for every optimizer (Keras): p -= lr * weight_decay * p before the
//   update. PyTorch's SGD/Adam weight_decay is an L2 term added to the gradient instead; PyTorch's
//   AdamW matches ours (its default decay is 0.01, Keras's and ours 0.004).
// - clipnorm clips by the GLOBAL norm over the whole flat buffer (Keras's global_clipnorm,
//   tf.clip_by_global_norm, torch.nn.utils.clip_grad_norm_ without its 1e-6): g *= c / max(|g|, c).
//   Keras's per-variable clipnorm has no equivalent here.
// - A schedule is evaluated at iterations() (steps requested so far, skipped ones included; Keras
//   counts applied steps): the host knows that count without waiting for the device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "optim/schedule.h"
#include "tensor/tensor.h"

namespace tilenet::optim {

// Device-side controls for mixed precision, so a training step needs no host synchronisation
// (and can be captured in a CUDA graph). Undefined tensors are unused.
struct StepControl {
  Tensor inv_scale;  // f32 [1] on the params' device: every gradient is multiplied by it (1/loss_scale)
  Tensor skip;       // f32 [1]: when nonzero (a gradient was inf/nan) the whole update is skipped,
                     // including the step counter used for bias correction
  Tensor lr;         // f32 [1]: the step reads its learning rate from here instead of taking the
                     // schedule's value by value (Optimizer::stage_learning_rate fills it), so a step
                     // captured in a CUDA graph follows a schedule when replayed
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // params (f32 [P]) updated in place from grads (f32 [P]); both on the same device.
  // Gradient clipping by global norm (clipnorm > 0) happens here, after unscaling.
  virtual void step(Tensor& params, const Tensor& grads, const StepControl& control = {}) = 0;
  // Creates (zeroed) whatever state step() would create for `params` on their device, now: a step
  // captured into a CUDA graph must find it in place, since a capture records the zero-fill
  // without running it. Idempotent; the default has no state.
  virtual void prepare(const Tensor& params) { (void)params; }

  virtual std::string name() const = 0;
  // A fresh optimizer with the same hyper-parameters, clipnorm and schedule (no slots, step 0).
  virtual std::unique_ptr<Optimizer> clone() const = 0;
  // The learning rate of the last step (with a schedule: the one the next step will use until then).
  float learning_rate() const { return lr_; }
  // Throws ValueError for a negative or non-finite lr, or when a schedule is attached (as Keras does).
  void set_learning_rate(float lr);
  // Learning-rate schedule, evaluated on the host at iterations() before each step; null detaches.
  void set_schedule(std::shared_ptr<const Schedule> schedule);
  const std::shared_ptr<const Schedule>& schedule() const { return schedule_; }
  // Steps requested so far (skipped ones included; the bias-correction counter lives with the
  // optimizer's state on the device and counts applied steps only).
  std::int64_t iterations() const { return iterations_; }
  // Counts a step that ran without a call to step(): a CUDA-graph replay of a captured step
  // (nn/step_graph.h). Keeps iterations() >= the device's applied-step count, which checkpoints
  // (load_state) require.
  void count_replayed_step() { ++iterations_; }
  // Takes back the count of a step whose queued work never ran (a CUDA graph capture that failed:
  // its host code counted the step, and the step then runs eagerly and counts again).
  void uncount_step() {
    if (iterations_ > 0) --iterations_;
  }
  // For a step that reads StepControl::lr: evaluates the learning rate of the next step on the
  // host (the schedule at iterations(), as step() would) and queues its write into a device scalar
  // on `device`'s current stream (one small kernel, no host wait); returns that scalar. A CUDA
  // graph captures the step once and this call runs before every replay, outside the graph.
  Tensor stage_learning_rate(Device device);
  // Clip the global gradient norm to this value before the update; 0 disables.
  void set_clipnorm(float clipnorm);
  float clipnorm() const { return clipnorm_; }
  // Changes whenever something a captured CUDA graph of step() bakes in may have changed
  // (clipnorm, hyper-parameters or state tensors from load_state): part of the graph's key.
  std::uint64_t config_version() const { return config_version_; }

  // Slot tensors (moments, velocities) and hyper-parameters, for checkpoints. load_state()
  // validates names and shapes and throws ValueError/ShapeError naming what differs.
  virtual std::vector<std::pair<std::string, Tensor>> state() const = 0;
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state) = 0;

 protected:
  explicit Optimizer(float lr);
  // The learning rate for the step about to run (the schedule's when one is attached); sets lr_.
  float next_learning_rate();
  float lr_;
  float clipnorm_ = 0.0f;
  std::int64_t iterations_ = 0;
  std::shared_ptr<const Schedule> schedule_;
  Tensor lr_staged_;  // stage_learning_rate's scalar
  std::uint64_t config_version_ = 0;
};

}  // namespace tilenet::optim
