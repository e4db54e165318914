// SGD, Adam, AdamW and RMSprop with Keras's default hyper-parameters and semantics
// (optim/optimizer.h lists where they differ from PyTorch), and a factory by name. Copying one
// (or clone()) copies its configuration, clipnorm and schedule, not its slots or step counts.
//
//   auto opt = std::make_unique<optim::RMSprop>(1e-3f);
//   opt->set_clipnorm(1.0f);
//   opt->set_schedule(std::make_shared<optim::CosineDecay>(0.0f, 10000, 0.0f, 1e-3f, 500));
//   opt->step(params, grads);                     // params, grads: f32 [P] on one device
#pragma once

#include <memory>
#include <string>

#include "optim/fused_optimizer.h"

namespace tilenet::optim {

class SGD : public FusedOptimizer {
 public:
  explicit SGD(float learning_rate = 0.01f, float momentum = 0.0f, bool nesterov = false, float weight_decay = 0.0f);
  std::string name() const override { return "SGD"; }
  std::unique_ptr<Optimizer> clone() const override;
};

class Adam : public FusedOptimizer {
 public:
  explicit Adam(float learning_rate = 0.001f, float beta_1 = 0.9f, float beta_2 = 0.999f, float epsilon = 1e-7f,
                bool amsgrad = false, float weight_decay = 0.0f);
  std::string name() const override { return "Adam"; }
  std::unique_ptr<Optimizer> clone() const override;
};

// Adam with decoupled weight decay (Keras's AdamW argument order and defaults).
class AdamW : public Adam {
 public:
  explicit AdamW(float learning_rate = 0.001f, float weight_decay = 0.004f, float beta_1 = 0.9f,
                 float beta_2 = 0.999f, float epsilon = 1e-7f, bool amsgrad = false);
  std::string name() const override { return "AdamW"; }
  std::unique_ptr<Optimizer> clone() const override;
};

class RMSprop : public FusedOptimizer {
 public:
  explicit RMSprop(float learning_rate = 0.001f, float rho = 0.9f, float momentum = 0.0f, float epsilon = 1e-7f,
                   bool centered = false, float weight_decay = 0.0f);
  std::string name() const override { return "RMSprop"; }
  std::unique_ptr<Optimizer> clone() const override;
};

// "sgd", "adam", "adamw" or "rmsprop" (any case) with its Keras defaults; learning_rate < 0 keeps
// the default (SGD 0.01, the others 0.001). Throws ValueError naming the known names otherwise.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, float learning_rate = -1.0f);

}  // namespace tilenet::optim
