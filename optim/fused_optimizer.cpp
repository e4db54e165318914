#include "optim/fused_optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "tensor/stream.h"

namespace tilenet::optim {
namespace {

void check_scalar(const Tensor& t, const char* what, const Tensor& params, const std::string& op) {
  if (!t.defined()) return;
  TILENET_CHECK(t.dtype() == DType::f32, DtypeError, op, ": ", what, " must be f32, got ", dtype_name(t.dtype()));
  TILENET_CHECK(t.numel() == 1, ShapeError, op, ": ", what, " must hold one element, got shape ", t.shape().str());
  TILENET_CHECK(t.device() == params.device(), DeviceError, op, ": ", what, " is on ", t.device().str(),
                " but the parameters are on ", params.device().str());
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

FusedOptimizer::FusedOptimizer(const kernels::OptimizerConfig& config, std::array<const char*, 3> slot_names)
    : Optimizer(config.lr), config_(config), slot_names_(slot_names) {}

FusedOptimizer::FusedOptimizer(const FusedOptimizer& o)
    : Optimizer(o.lr_), config_(o.config_), slot_names_(o.slot_names_) {
  clipnorm_ = o.clipnorm_;
  schedule_ = o.schedule_;
  if (schedule_) lr_ = schedule_->lr(0);
}

void FusedOptimizer::ensure_state(const Tensor& params) {
  const Device dev = params.device();
  const std::int64_t n = params.numel();
  for (int s = 0; s < 3; ++s) {
    if (!kernels::optimizer_slot_used(config_, s)) continue;
    Tensor& slot = slots_[s];
    if (!slot.defined()) {
      slot = Tensor::zeros({n}, DType::f32, dev);
      continue;
    }
    TILENET_CHECK(slot.numel() == n, ShapeError, name(), ".step: the optimizer's '", slot_names_[s], "' slot holds ",
                  slot.numel(), " values but the parameters have ", n,
                  " (an optimizer serves one parameter buffer; clone() it for another)");
    if (slot.device() != dev) slot = slot.to(dev);
  }
  if (!step_.defined()) step_ = Tensor::zeros({1}, DType::i32, dev);
  if (step_.device() != dev) step_ = step_.to(dev);
  if (dev.is_cuda()) {
    const auto words = static_cast<std::int64_t>((kernels::optimizer_workspace_bytes() + 3) / 4);
    if (!workspace_.defined() || workspace_.device() != dev) workspace_ = Tensor::zeros({words}, DType::i32, dev);
  }
}

void FusedOptimizer::step(Tensor& params, const Tensor& grads, const StepControl& control) {
  const std::string op = name() + ".step";
  check_defined(params, op.c_str(), "params");
  check_defined(grads, op.c_str(), "grads");
  params.check_dtype(DType::f32, op.c_str());
  grads.check_dtype(DType::f32, op.c_str());
  check_same_device(params, grads, op.c_str());
  TILENET_CHECK(params.numel() == grads.numel(), ShapeError, op, ": params ", params.shape().str(), " and grads ",
                grads.shape().str(), " differ in size");
  check_scalar(control.inv_scale, "StepControl::inv_scale", params, op);
  check_scalar(control.skip, "StepControl::skip", params, op);
  check_scalar(control.lr, "StepControl::lr", params, op);
  ensure_state(params);

  kernels::OptimizerConfig c = config_;
  // With StepControl::lr the kernel reads the rate stage_learning_rate() wrote (lr_ is that value).
  c.lr = control.lr.defined() ? lr_ : next_learning_rate();
  c.clipnorm = clipnorm_;
  kernels::OptimizerBuffers b;
  b.params = params.data<float>();
  b.grads = grads.data<float>();
  b.n = params.numel();
  for (int s = 0; s < 3; ++s) b.slot[s] = slots_[s].defined() ? slots_[s].data<float>() : nullptr;
  b.inv_scale = control.inv_scale.defined() ? control.inv_scale.data<float>() : nullptr;
  b.skip = control.skip.defined() ? control.skip.data<float>() : nullptr;
  b.lr = control.lr.defined() ? control.lr.data<float>() : nullptr;
  b.step = step_.data<std::int32_t>();
  if (params.is_cuda()) {
    b.workspace = workspace_.raw_data();
    kernels::optimizer_step(c, b, cuda::current_stream(params.device().index));
  } else {
    kernels::optimizer_step_ref(c, b);
  }
  ++iterations_;
}

std::vector<FusedOptimizer::Hyper> FusedOptimizer::hypers() const {
  const kernels::OptimizerConfig& c = config_;
  std::vector<Hyper> h{{"learning_rate", lr_, HyperKind::value},
                       {"clipnorm", clipnorm_, HyperKind::value},
                       {"weight_decay", c.weight_decay, HyperKind::value}};
  switch (c.kind) {
    case kernels::OptimizerKind::sgd:
      h.push_back({"momentum", c.momentum, HyperKind::on_off});
      h.push_back({"nesterov", c.nesterov ? 1.0f : 0.0f, HyperKind::flag});
      break;
    case kernels::OptimizerKind::adam:
      h.push_back({"beta_1", c.beta1, HyperKind::value});
      h.push_back({"beta_2", c.beta2, HyperKind::value});
      h.push_back({"epsilon", c.epsilon, HyperKind::value});
      h.push_back({"amsgrad", c.amsgrad ? 1.0f : 0.0f, HyperKind::flag});
      break;
    case kernels::OptimizerKind::rmsprop:
      h.push_back({"rho", c.rho, HyperKind::value});
      h.push_back({"momentum", c.momentum, HyperKind::on_off});
      h.push_back({"epsilon", c.epsilon, HyperKind::value});
      h.push_back({"centered", c.centered ? 1.0f : 0.0f, HyperKind::flag});
      break;
  }
  return h;
}

namespace {
// Writes one saved hyper-parameter into a candidate configuration (flags were checked equal).
void set_hyper(kernels::OptimizerConfig& c, const std::string& n, float v) {
  if (n == "learning_rate") c.lr = v;
  else if (n == "clipnorm") c.clipnorm = v;
  else if (n == "weight_decay") c.weight_decay = v;
  else if (n == "momentum") c.momentum = v;
  else if (n == "beta_1") c.beta1 = v;
  else if (n == "beta_2") c.beta2 = v;
  else if (n == "epsilon") c.epsilon = v;
  else if (n == "rho") c.rho = v;
}
}  // namespace

void FusedOptimizer::validate(const std::string& who, const kernels::OptimizerConfig& c) {
  auto in = [](float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  const float inf = std::numeric_limits<float>::max();
  TILENET_CHECK(in(c.lr, 0.0f, inf), ValueError, who, ": learning_rate must be finite and >= 0, got ", c.lr);
  TILENET_CHECK(in(c.clipnorm, 0.0f, inf), ValueError, who, ": clipnorm must be finite and >= 0, got ", c.clipnorm);
  TILENET_CHECK(in(c.weight_decay, 0.0f, inf), ValueError, who, ": weight_decay must be finite and >= 0, got ",
                c.weight_decay);
  TILENET_CHECK(in(c.momentum, 0.0f, 1.0f), ValueError, who, ": momentum must be in [0, 1], got ", c.momentum);
  TILENET_CHECK(!c.nesterov || c.kind != kernels::OptimizerKind::sgd || c.momentum > 0.0f, ValueError, who,
                ": nesterov needs momentum > 0");
  TILENET_CHECK(in(c.beta1, 0.0f, 1.0f) && c.beta1 < 1.0f, ValueError, who, ": beta_1 must be in [0, 1), got ", c.beta1);
  TILENET_CHECK(in(c.beta2, 0.0f, 1.0f) && c.beta2 < 1.0f, ValueError, who, ": beta_2 must be in [0, 1), got ", c.beta2);
  TILENET_CHECK(in(c.epsilon, 0.0f, inf), ValueError, who, ": epsilon must be finite and >= 0, got ", c.epsilon);
  TILENET_CHECK(in(c.rho, 0.0f, 1.0f), ValueError, who, ": rho must be in [0, 1], got ", c.rho);
}

std::int64_t FusedOptimizer::applied_steps() const {
  return step_.defined() ? static_cast<std::int64_t>(step_.to_ints()[0]) : 0;
}

std::vector<std::pair<std::string, Tensor>> FusedOptimizer::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (int s = 0; s < 3; ++s)
    if (kernels::optimizer_slot_used(config_, s) && slots_[s].defined()) out.emplace_back(slot_names_[s], slots_[s]);
  out.emplace_back("step", step_.defined() ? step_ : Tensor::zeros({1}, DType::i32));
  TILENET_CHECK(iterations_ <= std::numeric_limits<std::int32_t>::max(), ValueError, name(),
                ".state: iterations ", iterations_, " does not fit the i32 checkpoint entry");
  out.emplace_back("iterations", Tensor::from_ints({static_cast<std::int32_t>(iterations_)}, {1}));
  for (const Hyper& h : hypers()) out.emplace_back(std::string("hyper/") + h.name, Tensor::from_vector({h.value}, {1}));
  return out;
}

void FusedOptimizer::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  const std::string op = name() + ".load_state";
  std::map<std::string, const Tensor*> given;
  for (const auto& [k, t] : state) {
    TILENET_CHECK(given.emplace(k, &t).second, ValueError, op, ": entry '", k, "' appears twice");
    TILENET_CHECK(t.defined(), ValueError, op, ": entry '", k, "' is an undefined tensor");
  }
  // What this configuration expects.
  std::vector<std::string> slot_names, required{"step", "iterations"};
  for (int s = 0; s < 3; ++s)
    if (kernels::optimizer_slot_used(config_, s)) slot_names.push_back(slot_names_[s]);
  const std::vector<Hyper> hs = hypers();
  for (const Hyper& h : hs) required.push_back(std::string("hyper/") + h.name);
  std::vector<std::string> expected = slot_names;
  expected.insert(expected.end(), required.begin(), required.end());
  for (const auto& [k, t] : given) {
    (void)t;
    TILENET_CHECK(std::find(expected.begin(), expected.end(), k) != expected.end(), ValueError, op,
                  ": unexpected entry '", k, "'; this ", name(), " expects: ", join_names(expected));
  }
  for (const auto& k : required)
    TILENET_CHECK(given.count(k), ValueError, op, ": missing entry '", k, "'; this ", name(),
                  " expects: ", join_names(expected));
  std::size_t slots_present = 0;
  for (const auto& k : slot_names) slots_present += given.count(k);
  TILENET_CHECK(slots_present == 0 || slots_present == slot_names.size(), ValueError, op, ": got ", slots_present,
                " of the ", slot_names.size(), " slots (", join_names(slot_names), "); expected all or none");

  // Types and shapes.
  auto check_entry = [&](const std::string& k, DType dt) {
    const Tensor& t = *given.at(k);
    TILENET_CHECK(t.dtype() == dt, DtypeError, op, ": entry '", k, "' has dtype ", dtype_name(t.dtype()),
                  ", expected ", dtype_name(dt));
  };
  for (const auto& k : required) {
    check_entry(k, k.rfind("hyper/", 0) == 0 ? DType::f32 : DType::i32);
    TILENET_CHECK(given.at(k)->numel() == 1, ShapeError, op, ": entry '", k, "' has shape ",
                  given.at(k)->shape().str(), ", expected (1,)");
  }
  std::int64_t n = -1;  // the size of the buffer this optimizer already serves, if any
  for (int s = 0; s < 3; ++s)
    if (kernels::optimizer_slot_used(config_, s) && slots_[s].defined()) n = slots_[s].numel();
  for (const auto& k : slot_names) {
    if (!given.count(k)) continue;
    check_entry(k, DType::f32);
    const Tensor& t = *given.at(k);
    TILENET_CHECK(t.ndim() == 1, ShapeError, op, ": slot '", k, "' has shape ", t.shape().str(), ", expected 1-D");
    if (n < 0) n = t.numel();
    TILENET_CHECK(t.numel() == n, ShapeError, op, ": slot '", k, "' has shape ", t.shape().str(), ", expected (", n,
                  ",) like the other slots and the parameters this optimizer serves");
  }
  const std::int32_t step = given.at("step")->to_ints()[0];
  const std::int32_t iterations = given.at("iterations")->to_ints()[0];
  TILENET_CHECK(step >= 0 && iterations >= step, ValueError, op, ": step ", step, " and iterations ", iterations,
                " are inconsistent (expected 0 <= step <= iterations)");
  TILENET_CHECK(slots_present > 0 || slot_names.empty() || step == 0, ValueError, op, ": the state has no slots but ",
                step, " applied steps");
  kernels::OptimizerConfig cand = config_;
  for (const Hyper& h : hs) {
    const float v = given.at(std::string("hyper/") + h.name)->to_vector()[0];
    TILENET_CHECK(std::isfinite(v), ValueError, op, ": hyper/", h.name, " is ", v);
    if (h.kind == HyperKind::flag)
      TILENET_CHECK(v == h.value, ValueError, op, ": hyper/", h.name, " is ", v, " in the state but ", h.value,
                    " in this optimizer; construct the optimizer with the same setting");
    if (h.kind == HyperKind::on_off)
      TILENET_CHECK((v != 0.0f) == (h.value != 0.0f), ValueError, op, ": hyper/", h.name, " is ", v,
                    " in the state but ", h.value, " in this optimizer (zero or nonzero decides the slots)");
    set_hyper(cand, h.name, v);
  }
  validate(op, cand);

  // Everything checked: apply.
  ++config_version_;
  lr_ = cand.lr;
  clipnorm_ = cand.clipnorm;
  cand.lr = config_.lr;
  cand.clipnorm = 0.0f;
  config_ = cand;
  iterations_ = iterations;
  if (schedule_) lr_ = schedule_->lr(iterations_);
  for (int s = 0; s < 3; ++s) {
    if (!kernels::optimizer_slot_used(config_, s)) continue;
    auto it = given.find(slot_names_[s]);
    if (it == given.end()) {
      slots_[s] = Tensor();
    } else if (slots_[s].defined() && slots_[s].numel() == it->second->numel()) {
      slots_[s].copy_from(*it->second);
    } else {
      slots_[s] = it->second->clone();
    }
  }
  if (step_.defined())
    step_.copy_from(*given.at("step"));
  else
    step_ = given.at("step")->clone();
}

}  // namespace tilenet::optim
