#include "optim/optimizer.h"

#include <cmath>

#include "tensor/ops.h"

namespace tilenet::optim {

Optimizer::Optimizer(float lr) : lr_(lr) {
  TILENET_CHECK(std::isfinite(lr) && lr >= 0.0f, ValueError, "Optimizer: learning_rate must be finite and >= 0, got ",
                lr);
}

void Optimizer::set_learning_rate(float lr) {
  TILENET_CHECK(!schedule_, ValueError, name(), ": the learning rate follows the schedule ", schedule_->describe(),
                " and cannot be set; set_schedule(nullptr) first");
  TILENET_CHECK(std::isfinite(lr) && lr >= 0.0f, ValueError, name(),
                ": learning_rate must be finite and >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::set_schedule(std::shared_ptr<const Schedule> schedule) {
  schedule_ = std::move(schedule);
  if (schedule_) lr_ = schedule_->lr(iterations_);
}

void Optimizer::set_clipnorm(float clipnorm) {
  TILENET_CHECK(std::isfinite(clipnorm) && clipnorm >= 0.0f, ValueError, name(),
                ": clipnorm must be finite and >= 0 (0 disables), got ", clipnorm);
  clipnorm_ = clipnorm;
  ++config_version_;
}

float Optimizer::next_learning_rate() {
  if (schedule_) {
    const float lr = schedule_->lr(iterations_);
    TILENET_CHECK(std::isfinite(lr) && lr >= 0.0f, ValueError, name(), ": schedule ", schedule_->describe(),
                  " gave learning rate ", lr, " at step ", iterations_);
    lr_ = lr;
  }
  return lr_;
}

Tensor Optimizer::stage_learning_rate(Device device) {
  if (!lr_staged_.defined() || lr_staged_.device() != device) lr_staged_ = Tensor::empty({1}, DType::f32, device);
  fill_(lr_staged_, next_learning_rate());
  return lr_staged_;
}

}  // namespace tilenet::optim
