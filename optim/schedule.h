// Learning-rate schedules: lr(step) is evaluated on the host before each optimizer step and passed
// to the update kernel by value, so a schedule costs no device work and no synchronisation.
// Attach one with Optimizer::set_schedule(); `step` is Optimizer::iterations() (0 for the first step).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace tilenet::optim {

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual float lr(std::int64_t step) const = 0;
  // "StepDecay(initial=0.1, step_size=1000, factor=0.5)"
  virtual std::string describe() const = 0;
};

// initial * factor^floor(step / step_size): drops by `factor` every step_size steps.
class StepDecay : public Schedule {
 public:
  StepDecay(float initial_learning_rate, std::int64_t step_size, float factor = 0.1f);
  float lr(std::int64_t step) const override;
  std::string describe() const override;

 private:
  float initial_;
  std::int64_t step_size_;
  float factor_;
};

// Keras ExponentialDecay: initial * decay_rate^(step / decay_steps), the exponent floored when
// staircase is true.
class ExponentialDecay : public Schedule {
 public:
  ExponentialDecay(float initial_learning_rate, std::int64_t decay_steps, float decay_rate, bool staircase = false);
  float lr(std::int64_t step) const override;
  std::string describe() const override;

 private:
  float initial_;
  std::int64_t decay_steps_;
  float rate_;
  bool staircase_;
};

// Keras CosineDecay. Without warm-up: initial * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step,
// decay_steps) / decay_steps)) + alpha). With warmup_target and warmup_steps > 0: a linear ramp from
// initial to warmup_target over warmup_steps, then the cosine decay from warmup_target over
// decay_steps down to alpha * warmup_target, constant after.
class CosineDecay : public Schedule {
 public:
  CosineDecay(float initial_learning_rate, std::int64_t decay_steps, float alpha = 0.0f,
              std::optional<float> warmup_target = std::nullopt, std::int64_t warmup_steps = 0);
  float lr(std::int64_t step) const override;
  std::string describe() const override;

 private:
  float initial_;
  std::int64_t decay_steps_;
  float alpha_;
  std::optional<float> warmup_target_;
  std::int64_t warmup_steps_;
};

}  // namespace tilenet::optim
