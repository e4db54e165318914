// Dynamic loss scaling for mixed precision (Keras LossScaleOptimizer semantics), with every
// decision on the device so a step never waits for the host:
//
//   LossScaler scaler(device);                 // scale 2^15, doubles after 2000 clean steps
//   softmax_cross_entropy_into(logits, labels, losses, dloss, 1.0f / batch, scaler.scale());
//                                              // the loss kernel multiplies by the device scale
//                                              // before rounding its gradient to f16
//   ... backward: flat f32 grads, scaled ...
//   scaler.check(grads);                       // one launch: skip = any grad inf/NaN
//   optimizer.step(params, grads, scaler.control());   // unscales; skips when flagged
//   scaler.update();                           // one launch: halve on overflow, count, grow
//   ... at epoch end: scaler.skipped_steps()   (reads the device: synchronises)
#pragma once

#include <cstdint>

#include "kernels/loss_scale.h"
#include "optim/optimizer.h"

namespace tilenet::optim {

struct LossScaleOptions {
  float initial_scale = 32768.0f;  // Keras: 2^15
  bool dynamic = true;             // false: fixed scale
  std::int32_t growth_interval = 2000;  // Keras dynamic_growth_steps
  float min_scale = 1.0f;
  float max_scale = 16777216.0f;   // 2^24
};

class LossScaler {
 public:
  explicit LossScaler(Device device, const LossScaleOptions& options = {});

  // Device scalars, f32 [1] views on `device`.
  const Tensor& scale() const { return scale_t_; }
  const Tensor& inv_scale() const { return inv_scale_t_; }
  const Tensor& skip() const { return skip_t_; }
  // What the optimizer reads: inv_scale and skip.
  StepControl control() const { return {inv_scale_t_, skip_t_, Tensor()}; }

  // t *= scale (f32 or f16, on this scaler's device). Prefer handing scale() to the loss kernel
  // (tensor/softmax.h, nn::compute_loss): scaling an f16 gradient after it was rounded loses the
  // small values that underflowed in that rounding, which is what loss scaling is for.
  void scale_(Tensor& t) const;
  // Sets skip when any element of grads (f32) is inf or NaN, else clears it.
  void check(const Tensor& grads);
  // The same, and unscales grads in place; then step with {Tensor(), skip()} (no inv_scale).
  void check_and_unscale(Tensor& grads);
  // After the optimizer step: counts the step and adjusts the scale (halve on overflow, double
  // after growth_interval clean steps in a row).
  void update();

  // Host reads (each synchronises with the device).
  float current_scale() const;
  std::int64_t skipped_steps() const;  // since construction or reset_counters()
  void reset_counters();
  // The clean steps counted towards the next doubling (host read: synchronises).
  std::int64_t good_steps() const;
  // Puts a scale and the clean-step count in place (a checkpoint's, or another scaler's when a
  // model moves to another device), clamped to what these options allow. Throws ValueError for a
  // scale that is not finite and positive, or a negative count.
  void restore(float scale, std::int64_t good_steps);

  const LossScaleOptions& options() const { return options_; }
  Device device() const { return device_; }

 private:
  void check_grads(const Tensor& grads, const char* op) const;

  Device device_;
  LossScaleOptions options_;
  Tensor state_;  // f32 [kLsCount]: scale, inv_scale, good steps, skipped total
  Tensor scale_t_, inv_scale_t_, skip_t_;
  Tensor scratch_;       // i32 [2] for the finite check (CUDA)
};

}  // namespace tilenet::optim
