// CPU reference for kernels/optimizer.h: the plainest loops, one element at a time, in the order
// the header states. The global norm accumulates in double.
#include <cmath>

#include "kernels/optimizer.h"
#include "tensor/error.h"

namespace tilenet::kernels {

bool optimizer_slot_used(const OptimizerConfig& c, int slot) {
  switch (c.kind) {
    case OptimizerKind::sgd: return slot == 0 && c.momentum != 0.0f;
    case OptimizerKind::adam: return slot < 2 || (slot == 2 && c.amsgrad);
    case OptimizerKind::rmsprop:
      return slot == 0 || (slot == 1 && c.momentum > 0.0f) || (slot == 2 && c.centered);
  }
  return false;
}

void check_optimizer_args(const char* op, const OptimizerConfig& c, const OptimizerBuffers& b) {
  TILENET_CHECK(b.n >= 0, ValueError, op, ": element count must be >= 0, got ", b.n);
  TILENET_CHECK(b.step != nullptr, ValueError, op, ": the step counter pointer is null");
  TILENET_CHECK(b.n == 0 || (b.params && b.grads), ValueError, op, ": params or grads is null for ", b.n,
                " elements");
  TILENET_CHECK(std::isfinite(c.lr), ValueError, op, ": learning rate must be finite, got ", c.lr);
  TILENET_CHECK(c.clipnorm >= 0.0f && std::isfinite(c.clipnorm), ValueError, op,
                ": clipnorm must be finite and >= 0, got ", c.clipnorm);
  TILENET_CHECK(c.weight_decay >= 0.0f && std::isfinite(c.weight_decay), ValueError, op,
                ": weight_decay must be finite and >= 0, got ", c.weight_decay);
  for (int s = 0; s < 3; ++s)
    TILENET_CHECK(!optimizer_slot_used(c, s) || b.n == 0 || b.slot[s], ValueError, op, ": slot ", s,
                  " is null but the configuration uses it");
}

double grad_global_norm_ref(const float* grads, std::int64_t n, const float* inv_scale) {
  const double s = inv_scale ? static_cast<double>(*inv_scale) : 1.0;
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(grads[i]) * s;
    sum += g * g;
  }
  return std::sqrt(sum);
}

void optimizer_step_ref(const OptimizerConfig& c, const OptimizerBuffers& b) {
  check_optimizer_args("optimizer_step_ref", c, b);
  if (b.skip && *b.skip != 0.0f) return;
  const float inv_scale = b.inv_scale ? *b.inv_scale : 1.0f;
  float clip = 1.0f;
  if (c.clipnorm > 0.0f) {
    const double norm = grad_global_norm_ref(b.grads, b.n, b.inv_scale);
    clip = static_cast<float>(c.clipnorm / std::fmax(norm, static_cast<double>(c.clipnorm)));
  }
  const std::int32_t t = *b.step + 1;
  const float lr = b.lr ? *b.lr : c.lr;
  const float decay = lr * c.weight_decay;
  // Adam's step size: lr * sqrt(1 - b2^t) / (1 - b1^t), in double on the host.
  const double b1p = std::pow(static_cast<double>(c.beta1), t);
  const double b2p = std::pow(static_cast<double>(c.beta2), t);
  const float alpha = static_cast<float>(lr * std::sqrt(1.0 - b2p) / (1.0 - b1p));

  for (std::int64_t i = 0; i < b.n; ++i) {
    const float g = b.grads[i] * inv_scale * clip;
    float p = b.params[i];
    if (c.weight_decay != 0.0f) p = p - p * decay;
    switch (c.kind) {
      case OptimizerKind::sgd:
        if (c.momentum != 0.0f) {
          float& m = b.slot[0][i];
          m = c.momentum * m - lr * g;
          p += c.nesterov ? c.momentum * m - lr * g : m;
        } else {
          p -= lr * g;
        }
        break;
      case OptimizerKind::adam: {
        float& m = b.slot[0][i];
        float& v = b.slot[1][i];
        m += (g - m) * (1.0f - c.beta1);
        v += (g * g - v) * (1.0f - c.beta2);
        float vv = v;
        if (c.amsgrad) {
          float& vhat = b.slot[2][i];
          vhat = std::fmax(vhat, v);
          vv = vhat;
        }
        p -= m * alpha / (std::sqrt(vv) + c.epsilon);
        break;
      }
      case OptimizerKind::rmsprop: {
        float& v = b.slot[0][i];
        v = c.rho * v + (1.0f - c.rho) * g * g;
        float d = v + c.epsilon;
        if (c.centered) {
          float& a = b.slot[2][i];
          a = c.rho * a + (1.0f - c.rho) * g;
          d = v - a * a + c.epsilon;
        }
        const float inc = lr * g / std::sqrt(d);
        if (c.momentum > 0.0f) {
          float& mo = b.slot[1][i];
          mo = c.momentum * mo + inc;
          p -= mo;
        } else {
          p -= inc;
        }
        break;
      }
    }
    b.params[i] = p;
  }
  *b.step = t;
}

}  // namespace tilenet::kernels
