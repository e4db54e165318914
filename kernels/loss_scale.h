// Mixed-precision helpers that keep the loss scale and the skip decision on the device, so a
// training step never waits for the host: the finite check over the flat gradient buffer, the
// dynamic loss-scale update (Keras LossScaleOptimizer semantics) and a multiply by a device scalar.
// CUDA launchers (device pointers) and CPU references (host pointers) with the same semantics.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

// The loss scaler's device scalars, one f32 array: [scale, inv_scale, good_steps, skipped_total].
enum LossScaleSlot : int { kLsScale = 0, kLsInvScale = 1, kLsGoodSteps = 2, kLsSkipped = 3, kLsCount = 4 };

struct LossScaleConfig {
  bool dynamic = true;            // false: the scale never changes (skipped steps are still counted)
  std::int32_t growth_interval = 2000;  // double after this many finite steps in a row
  float min_scale = 1.0f;         // halving stops here
  float max_scale = 16777216.0f;  // 2^24: doubling stops here
};

// Scratch words check_finite needs (device, zero before first use; the kernel leaves them zero).
constexpr std::size_t kCheckFiniteScratchWords = 2;

// *skip = 1 when any grads[i] is inf or NaN, else 0. One launch.
void check_finite(const float* grads, std::int64_t n, float* skip, std::uint32_t* scratch, cudaStream_t stream);
// The same, and grads[i] *= *inv_scale in place (then do not pass inv_scale to the optimizer too).
void check_finite_and_unscale(float* grads, std::int64_t n, const float* inv_scale, float* skip,
                              std::uint32_t* scratch, cudaStream_t stream);
// Reads *skip: counts a skipped step and halves the scale (not below min_scale), or counts a good
// step and doubles the scale after growth_interval of them (not above max_scale); keeps inv_scale
// = 1/scale. One thread, one launch. state: kLsCount floats.
void loss_scale_update(float* state, const float* skip, const LossScaleConfig& config, cudaStream_t stream);
// x[i] *= *s
void scale_by_device_scalar(float* x, std::int64_t n, const float* s, cudaStream_t stream);
void scale_by_device_scalar(half* x, std::int64_t n, const float* s, cudaStream_t stream);

void check_finite_ref(const float* grads, std::int64_t n, float* skip);
void check_finite_and_unscale_ref(float* grads, std::int64_t n, const float* inv_scale, float* skip);
void loss_scale_update_ref(float* state, const float* skip, const LossScaleConfig& config);
void scale_by_device_scalar_ref(float* x, std::int64_t n, const float* s);
void scale_by_device_scalar_ref(half* x, std::int64_t n, const float* s);

}  // namespace tilenet::kernels
