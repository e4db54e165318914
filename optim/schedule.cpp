#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace tilenet::optim {
namespace {

void check_lr(const char* who, float lr, const char* name) {
  TILENET_CHECK(std::isfinite(lr) && lr >= 0.0f, ValueError, who, ": ", name, " must be finite and >= 0, got ", lr);
}

}  // namespace

StepDecay::StepDecay(float initial, std::int64_t step_size, float factor)
    : initial_(initial), step_size_(step_size), factor_(factor) {
  check_lr("StepDecay", initial, "initial_learning_rate");
  TILENET_CHECK(step_size > 0, ValueError, "StepDecay: step_size must be > 0, got ", step_size);
  TILENET_CHECK(std::isfinite(factor) && factor >= 0.0f, ValueError, "StepDecay: factor must be finite and >= 0, got ",
                factor);
}

float StepDecay::lr(std::int64_t step) const {
  const double drops = std::floor(static_cast<double>(std::max<std::int64_t>(step, 0)) / step_size_);
  return static_cast<float>(initial_ * std::pow(static_cast<double>(factor_), drops));
}

std::string StepDecay::describe() const {
  return detail::make_message("StepDecay(initial=", initial_, ", step_size=", step_size_, ", factor=", factor_, ")");
}

ExponentialDecay::ExponentialDecay(float initial, std::int64_t decay_steps, float rate, bool staircase)
    : initial_(initial), decay_steps_(decay_steps), rate_(rate), staircase_(staircase) {
  check_lr("ExponentialDecay", initial, "initial_learning_rate");
  TILENET_CHECK(decay_steps > 0, ValueError, "ExponentialDecay: decay_steps must be > 0, got ", decay_steps);
  TILENET_CHECK(std::isfinite(rate) && rate > 0.0f, ValueError,
                "ExponentialDecay: decay_rate must be finite and > 0, got ", rate);
}

float ExponentialDecay::lr(std::int64_t step) const {
  double p = static_cast<double>(std::max<std::int64_t>(step, 0)) / static_cast<double>(decay_steps_);
  if (staircase_) p = std::floor(p);
  return static_cast<float>(initial_ * std::pow(static_cast<double>(rate_), p));
}

std::string ExponentialDecay::describe() const {
  return detail::make_message("ExponentialDecay(initial=", initial_, ", decay_steps=", decay_steps_,
                              ", decay_rate=", rate_, ", staircase=", staircase_ ? "true" : "false", ")");
}

CosineDecay::CosineDecay(float initial, std::int64_t decay_steps, float alpha, std::optional<float> warmup_target,
                         std::int64_t warmup_steps)
    : initial_(initial), decay_steps_(decay_steps), alpha_(alpha), warmup_target_(warmup_target),
      warmup_steps_(warmup_steps) {
  check_lr("CosineDecay", initial, "initial_learning_rate");
  TILENET_CHECK(decay_steps > 0, ValueError, "CosineDecay: decay_steps must be > 0, got ", decay_steps);
  TILENET_CHECK(std::isfinite(alpha) && alpha >= 0.0f && alpha <= 1.0f, ValueError,
                "CosineDecay: alpha must be in [0, 1], got ", alpha);
  TILENET_CHECK(warmup_steps >= 0, ValueError, "CosineDecay: warmup_steps must be >= 0, got ", warmup_steps);
  if (warmup_target) check_lr("CosineDecay", *warmup_target, "warmup_target");
}

float CosineDecay::lr(std::int64_t step) const {
  constexpr double kPi = 3.14159265358979323846;
  const double s = static_cast<double>(std::max<std::int64_t>(step, 0));
  auto decay = [&](double t, double from) {
    const double frac = std::min(t, static_cast<double>(decay_steps_)) / static_cast<double>(decay_steps_);
    const double cosine = 0.5 * (1.0 + std::cos(kPi * frac));
    return from * ((1.0 - alpha_) * cosine + alpha_);
  };
  if (!warmup_target_ || warmup_steps_ == 0) {
    // Keras ignores the warm-up when warmup_target is None; with warmup_steps == 0 it decays from
    // the target at once.
    return static_cast<float>(decay(s, warmup_target_ ? *warmup_target_ : initial_));
  }
  if (s < static_cast<double>(warmup_steps_)) {
    const double frac = s / static_cast<double>(warmup_steps_);
    return static_cast<float>(initial_ + (static_cast<double>(*warmup_target_) - initial_) * frac);
  }
  return static_cast<float>(decay(s - static_cast<double>(warmup_steps_), *warmup_target_));
}

std::string CosineDecay::describe() const {
  std::string s = detail::make_message("CosineDecay(initial=", initial_, ", decay_steps=", decay_steps_,
                                       ", alpha=", alpha_);
  if (warmup_target_) s += detail::make_message(", warmup_target=", *warmup_target_, ", warmup_steps=", warmup_steps_);
  return s + ")";
}

}  // namespace tilenet::optim
