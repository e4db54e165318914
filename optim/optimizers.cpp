#include "optim/optimizers.h"

#include <algorithm>
#include <cctype>

namespace tilenet::optim {
namespace {

kernels::OptimizerConfig sgd_config(float lr, float momentum, bool nesterov, float wd) {
  kernels::OptimizerConfig c;
  c.kind = kernels::OptimizerKind::sgd;
  c.lr = lr;
  c.momentum = momentum;
  c.nesterov = nesterov;
  c.weight_decay = wd;
  return c;
}

kernels::OptimizerConfig adam_config(float lr, float b1, float b2, float eps, bool amsgrad, float wd) {
  kernels::OptimizerConfig c;
  c.kind = kernels::OptimizerKind::adam;
  c.lr = lr;
  c.beta1 = b1;
  c.beta2 = b2;
  c.epsilon = eps;
  c.amsgrad = amsgrad;
  c.weight_decay = wd;
  return c;
}

kernels::OptimizerConfig rmsprop_config(float lr, float rho, float momentum, float eps, bool centered, float wd) {
  kernels::OptimizerConfig c;
  c.kind = kernels::OptimizerKind::rmsprop;
  c.lr = lr;
  c.rho = rho;
  c.momentum = momentum;
  c.epsilon = eps;
  c.centered = centered;
  c.weight_decay = wd;
  return c;
}

// Validates before the base class stores anything.
const kernels::OptimizerConfig& checked(const char* who, const kernels::OptimizerConfig& c) {
  FusedOptimizer::validate(who, c);
  return c;
}

}  // namespace

SGD::SGD(float lr, float momentum, bool nesterov, float wd)
    : FusedOptimizer(checked("SGD", sgd_config(lr, momentum, nesterov, wd)), {"momentum", nullptr, nullptr}) {}
std::unique_ptr<Optimizer> SGD::clone() const { return std::unique_ptr<Optimizer>(new SGD(*this)); }

Adam::Adam(float lr, float b1, float b2, float eps, bool amsgrad, float wd)
    : FusedOptimizer(checked("Adam", adam_config(lr, b1, b2, eps, amsgrad, wd)), {"momentum", "velocity", "velocity_hat"}) {}
std::unique_ptr<Optimizer> Adam::clone() const { return std::unique_ptr<Optimizer>(new Adam(*this)); }

AdamW::AdamW(float lr, float wd, float b1, float b2, float eps, bool amsgrad) : Adam(lr, b1, b2, eps, amsgrad, wd) {}
std::unique_ptr<Optimizer> AdamW::clone() const { return std::unique_ptr<Optimizer>(new AdamW(*this)); }

RMSprop::RMSprop(float lr, float rho, float momentum, float eps, bool centered, float wd)
    : FusedOptimizer(checked("RMSprop", rmsprop_config(lr, rho, momentum, eps, centered, wd)),
                     {"velocity", "momentum", "average_gradient"}) {}
std::unique_ptr<Optimizer> RMSprop::clone() const { return std::unique_ptr<Optimizer>(new RMSprop(*this)); }

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, float lr) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  const bool keep = lr < 0.0f;
  if (n == "sgd") return std::make_unique<SGD>(keep ? 0.01f : lr);
  if (n == "adam") return std::make_unique<Adam>(keep ? 0.001f : lr);
  if (n == "adamw") return std::make_unique<AdamW>(keep ? 0.001f : lr);
  if (n == "rmsprop") return std::make_unique<RMSprop>(keep ? 0.001f : lr);
  throw ValueError(detail::make_message("make_optimizer: unknown optimizer '", name,
                                        "'; known: sgd, adam, adamw, rmsprop"));
}

}  // namespace tilenet::optim
