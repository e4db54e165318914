// The machinery SGD, Adam/AdamW and RMSprop share: slot tensors allocated lazily at the first step
// on the parameters' device, the device-side applied-step counter, the kernel workspace, dispatch to
// the fused CUDA kernel or the CPU reference, and state()/load_state().
#pragma once

#include <array>

#include "kernels/optimizer.h"
#include "optim/optimizer.h"

namespace tilenet::optim {

class FusedOptimizer : public Optimizer {
 public:
  void step(Tensor& params, const Tensor& grads, const StepControl& control = {}) override;

  // Entries, in order: the slots in use (only after the first step or a load; Keras's names:
  // "momentum", "velocity", "average_gradient", "velocity_hat"), "step" (i32 [1], applied steps, on the
  // device), "iterations" (i32 [1], steps requested), then "hyper/<name>" f32 [1] values. Slot and
  // step tensors are the live state (no copy): copy them before modifying.
  std::vector<std::pair<std::string, Tensor>> state() const override;
  // Accepts exactly the names state() produces for this configuration (the slots all present or
  // all absent); restores hyper-parameter values, but the structural ones (nesterov, amsgrad,
  // centered, momentum on/off) must match. Validates everything before changing anything.
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  // Slots, the applied-step counter and (CUDA) the kernel's workspace, zeroed if new.
  void prepare(const Tensor& params) override { ensure_state(params); }

  const kernels::OptimizerConfig& config() const { return config_; }
  // Throws ValueError naming `who` and the first hyper-parameter out of its domain.
  static void validate(const std::string& who, const kernels::OptimizerConfig& config);
  // Applied (not skipped) steps: reads the device counter (synchronises).
  std::int64_t applied_steps() const;

 protected:
  FusedOptimizer(const kernels::OptimizerConfig& config, std::array<const char*, 3> slot_names);
  FusedOptimizer(const FusedOptimizer& other);  // configuration only (for clone())
  // The hyper-parameters this kind saves. On load, a `value` is restored; a `flag` (nesterov,
  // amsgrad, centered) must be equal; an `on_off` one (momentum) is restored but must be zero or
  // nonzero as here, since that decides which slots exist.
  enum class HyperKind { value, flag, on_off };
  struct Hyper {
    const char* name;
    float value;
    HyperKind kind;
  };
  std::vector<Hyper> hypers() const;

  kernels::OptimizerConfig config_;

 private:
  void ensure_state(const Tensor& params);

  std::array<const char*, 3> slot_names_;
  std::array<Tensor, 3> slots_;
  Tensor step_;       // i32 [1]
  Tensor workspace_;  // i32 (CUDA only), zeroed
};

}  // namespace tilenet::optim
