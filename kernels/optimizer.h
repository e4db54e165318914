// Fused optimizer updates over one flat f32 parameter buffer: SGD (momentum, Nesterov), Adam/AdamW
// (optionally AMSGrad) and RMSprop (optionally centered, with momentum), each with Keras's
// decoupled weight decay, loss-scale unscaling and a skip flag read from device memory, and
// gradient clipping by global norm. On CUDA one step is one launch (two with clipnorm: a
// deterministic norm reduction first). The CPU reference has the same semantics.
//
// Per element, in this order (Keras 3 semantics; optim/optimizer.h documents the PyTorch
// differences):
//   if *skip != 0: nothing changes (parameters, slots, step counter)
//   g = grad * (*inv_scale)                     (inv_scale null: 1)
//   g *= clipnorm / max(global_norm(g), clipnorm)   (clipnorm > 0; tf.clip_by_global_norm)
//   p -= lr * weight_decay * p                  (decoupled, before the update)
//   t = *step + 1 (applied steps, kept on the device; advanced only when the step is applied)
//   SGD:     momentum == 0: p -= lr*g
//            else m = momentum*m - lr*g; p += nesterov ? momentum*m - lr*g : m
//   Adam:    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); amsgrad: vhat = max(vhat, v), v := vhat
//            p -= m * lr*sqrt(1 - b2^t)/(1 - b1^t) / (sqrt(v) + eps)
//   RMSprop: v = rho*v + (1-rho) g^2; centered: a = rho*a + (1-rho) g, d = v - a^2 + eps, else d = v + eps
//            inc = lr*g/sqrt(d); momentum > 0: mo = momentum*mo + inc, p -= mo; else p -= inc
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace tilenet::kernels {

enum class OptimizerKind { sgd, adam, rmsprop };

// Hyper-parameters for one step, evaluated on the host (lr from the schedule) and passed by value;
// OptimizerBuffers::lr, when set, replaces lr with a value read from memory.
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  float lr = 0.01f;
  float weight_decay = 0.0f;  // decoupled (Keras): p -= lr * weight_decay * p
  float clipnorm = 0.0f;      // > 0: clip by global norm
  float momentum = 0.0f;      // SGD, RMSprop
  bool nesterov = false;      // SGD
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;  // Adam (epsilon also RMSprop's)
  bool amsgrad = false;       // Adam
  float rho = 0.9f;           // RMSprop
  bool centered = false;      // RMSprop
};

// The slots (OptimizerBuffers::slot[0..2]) a configuration uses; unused ones may be null.
//   SGD: [0] momentum (only when momentum != 0)
//   Adam: [0] m, [1] v, [2] vhat (only with amsgrad)
//   RMSprop: [0] velocity, [1] momentum (only when momentum > 0), [2] average_gradient (centered)
bool optimizer_slot_used(const OptimizerConfig& c, int slot);

// Pointers for one step: device pointers for the launcher, host pointers for the reference.
struct OptimizerBuffers {
  float* params = nullptr;        // [n] updated in place
  const float* grads = nullptr;   // [n]
  std::int64_t n = 0;
  float* slot[3] = {nullptr, nullptr, nullptr};  // [n] each (see optimizer_slot_count)
  const float* inv_scale = nullptr;  // [1] or null (1)
  const float* skip = nullptr;       // [1] or null (never skip)
  const float* lr = nullptr;         // [1] or null (config.lr): the learning rate, read from memory
                                     // by the step (so a CUDA graph replays with a changing lr)
  std::int32_t* step = nullptr;      // [1] applied-step counter; required
  void* workspace = nullptr;         // optimizer_workspace_bytes(), zeroed once before first use;
                                     // launcher only (the reference ignores it)
};

// Device workspace for the launcher: completion tickets and the norm partials. It must be zero
// when first used; the kernels leave it zero again. One workspace per optimizer (not shared by
// steps that may run concurrently).
std::size_t optimizer_workspace_bytes();

// CUDA: queues the step on `stream` (one launch; two when clipnorm > 0). Throws ValueError on bad
// arguments (null pointers, n < 0, slots missing for the configuration, bad hyper-parameters).
void optimizer_step(const OptimizerConfig& config, const OptimizerBuffers& buffers, cudaStream_t stream);
// CPU reference (host pointers): same semantics; the global norm accumulates in double.
void optimizer_step_ref(const OptimizerConfig& config, const OptimizerBuffers& buffers);

// Global L2 norm of grads * (*inv_scale), as the clipping sees it (host pointers, double sums).
double grad_global_norm_ref(const float* grads, std::int64_t n, const float* inv_scale);

// Argument checks shared by both paths; throws ValueError naming what is wrong.
void check_optimizer_args(const char* op, const OptimizerConfig& config, const OptimizerBuffers& buffers);

}  // namespace tilenet::kernels
