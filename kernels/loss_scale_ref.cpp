// CPU references for kernels/loss_scale.h.
#include <cmath>

#include "kernels/loss_scale.h"
#include "tensor/error.h"

namespace tilenet::kernels {

namespace {
void check_n(const char* op, const void* p, std::int64_t n) {
  TILENET_CHECK(n >= 0, ValueError, op, ": element count must be >= 0, got ", n);
  TILENET_CHECK(n == 0 || p, ValueError, op, ": data pointer is null for ", n, " elements");
}
}  // namespace

void check_finite_ref(const float* grads, std::int64_t n, float* skip) {
  check_n("check_finite_ref", grads, n);
  TILENET_CHECK(skip, ValueError, "check_finite_ref: skip pointer is null");
  bool bad = false;
  for (std::int64_t i = 0; i < n && !bad; ++i) bad = !std::isfinite(grads[i]);
  *skip = bad ? 1.0f : 0.0f;
}

void check_finite_and_unscale_ref(float* grads, std::int64_t n, const float* inv_scale, float* skip) {
  check_n("check_finite_and_unscale_ref", grads, n);
  TILENET_CHECK(skip && inv_scale, ValueError, "check_finite_and_unscale_ref: null skip or inv_scale pointer");
  bool bad = false;
  for (std::int64_t i = 0; i < n; ++i) {
    bad = bad || !std::isfinite(grads[i]);
    grads[i] *= *inv_scale;
  }
  *skip = bad ? 1.0f : 0.0f;
}

void loss_scale_update_ref(float* state, const float* skip, const LossScaleConfig& c) {
  TILENET_CHECK(state && skip, ValueError, "loss_scale_update_ref: null state or skip pointer");
  if (*skip != 0.0f) {
    state[kLsSkipped] += 1.0f;
    state[kLsGoodSteps] = 0.0f;
    if (c.dynamic) state[kLsScale] = std::fmax(state[kLsScale] * 0.5f, c.min_scale);
  } else {
    state[kLsGoodSteps] += 1.0f;
    if (c.dynamic && state[kLsGoodSteps] >= static_cast<float>(c.growth_interval)) {
      state[kLsScale] = std::fmin(state[kLsScale] * 2.0f, c.max_scale);
      state[kLsGoodSteps] = 0.0f;
    }
  }
  state[kLsInvScale] = 1.0f / state[kLsScale];
}

void scale_by_device_scalar_ref(float* x, std::int64_t n, const float* s) {
  check_n("scale_by_device_scalar_ref", x, n);
  TILENET_CHECK(s, ValueError, "scale_by_device_scalar_ref: scalar pointer is null");
  for (std::int64_t i = 0; i < n; ++i) x[i] *= *s;
}

void scale_by_device_scalar_ref(half* x, std::int64_t n, const float* s) {
  check_n("scale_by_device_scalar_ref", x, n);
  TILENET_CHECK(s, ValueError, "scale_by_device_scalar_ref: scalar pointer is null");
  for (std::int64_t i = 0; i < n; ++i) x[i] = float_to_half(half_to_float(x[i]) * *s);
}

}  // namespace tilenet::kernels
