#include "optim/loss_scale.h"

#include <algorithm>
#include <cmath>

#include "tensor/stream.h"

namespace tilenet::optim {
namespace {

kernels::LossScaleConfig to_config(const LossScaleOptions& o) {
  kernels::LossScaleConfig c;
  c.dynamic = o.dynamic;
  c.growth_interval = o.growth_interval;
  c.min_scale = o.min_scale;
  c.max_scale = o.max_scale;
  return c;
}

}  // namespace

LossScaler::LossScaler(Device device, const LossScaleOptions& o) : device_(device), options_(o) {
  auto pos = [](float v) { return std::isfinite(v) && v > 0.0f; };
  TILENET_CHECK(pos(o.initial_scale) && pos(o.min_scale) && pos(o.max_scale) && o.min_scale <= o.max_scale &&
                    o.initial_scale >= o.min_scale && o.initial_scale <= o.max_scale,
                ValueError, "LossScaler: need finite 0 < min_scale <= initial_scale <= max_scale, got ",
                o.min_scale, ", ", o.initial_scale, ", ", o.max_scale);
  TILENET_CHECK(o.growth_interval > 0, ValueError, "LossScaler: growth_interval must be > 0, got ",
                o.growth_interval);
  std::vector<float> init(kernels::kLsCount, 0.0f);
  init[kernels::kLsScale] = o.initial_scale;
  init[kernels::kLsInvScale] = 1.0f / o.initial_scale;
  state_ = Tensor::from_vector(init, {kernels::kLsCount}, device);
  scale_t_ = state_.slice(kernels::kLsScale, kernels::kLsScale + 1);
  inv_scale_t_ = state_.slice(kernels::kLsInvScale, kernels::kLsInvScale + 1);
  skip_t_ = Tensor::zeros({1}, DType::f32, device);
  scratch_ = Tensor::zeros({static_cast<std::int64_t>(kernels::kCheckFiniteScratchWords)}, DType::i32, device);
}

void LossScaler::check_grads(const Tensor& grads, const char* op) const {
  check_defined(grads, op, "grads");
  grads.check_dtype(DType::f32, op);
  TILENET_CHECK(grads.device() == device_, DeviceError, op, ": grads are on ", grads.device().str(),
                " but the loss scaler is on ", device_.str());
}

void LossScaler::scale_(Tensor& t) const {
  check_defined(t, "LossScaler::scale_", "t");
  TILENET_CHECK(t.device() == device_, DeviceError, "LossScaler::scale_: tensor is on ", t.device().str(),
                " but the loss scaler is on ", device_.str());
  const float* s = scale_t_.data<float>();
  if (t.dtype() == DType::f32) {
    if (t.is_cuda())
      kernels::scale_by_device_scalar(t.data<float>(), t.numel(), s, cuda::current_stream(device_.index));
    else
      kernels::scale_by_device_scalar_ref(t.data<float>(), t.numel(), s);
  } else if (t.dtype() == DType::f16) {
    if (t.is_cuda())
      kernels::scale_by_device_scalar(t.data<half>(), t.numel(), s, cuda::current_stream(device_.index));
    else
      kernels::scale_by_device_scalar_ref(t.data<half>(), t.numel(), s);
  } else {
    throw DtypeError("LossScaler::scale_: tensor must be f32 or f16, got i32");
  }
}

void LossScaler::check(const Tensor& grads) {
  check_grads(grads, "LossScaler::check");
  float* skip = skip_t_.data<float>();
  if (device_.is_cuda())
    kernels::check_finite(grads.data<float>(), grads.numel(), skip,
                          reinterpret_cast<std::uint32_t*>(scratch_.data<std::int32_t>()),
                          cuda::current_stream(device_.index));
  else
    kernels::check_finite_ref(grads.data<float>(), grads.numel(), skip);
}

void LossScaler::check_and_unscale(Tensor& grads) {
  check_grads(grads, "LossScaler::check_and_unscale");
  float* skip = skip_t_.data<float>();
  const float* inv = inv_scale_t_.data<float>();
  if (device_.is_cuda())
    kernels::check_finite_and_unscale(grads.data<float>(), grads.numel(), inv, skip,
                                      reinterpret_cast<std::uint32_t*>(scratch_.data<std::int32_t>()),
                                      cuda::current_stream(device_.index));
  else
    kernels::check_finite_and_unscale_ref(grads.data<float>(), grads.numel(), inv, skip);
}

void LossScaler::update() {
  const kernels::LossScaleConfig c = to_config(options_);
  if (device_.is_cuda())
    kernels::loss_scale_update(state_.data<float>(), skip_t_.data<float>(), c, cuda::current_stream(device_.index));
  else
    kernels::loss_scale_update_ref(state_.data<float>(), skip_t_.data<float>(), c);
}

float LossScaler::current_scale() const { return scale_t_.item(); }

std::int64_t LossScaler::skipped_steps() const {
  return static_cast<std::int64_t>(state_.slice(kernels::kLsSkipped, kernels::kLsSkipped + 1).item());
}

std::int64_t LossScaler::good_steps() const {
  return static_cast<std::int64_t>(state_.slice(kernels::kLsGoodSteps, kernels::kLsGoodSteps + 1).item());
}

void LossScaler::restore(float scale, std::int64_t good_steps) {
  TILENET_CHECK(std::isfinite(scale) && scale > 0.0f, ValueError, "LossScaler::restore: scale must be finite and > 0, got ",
                scale);
  TILENET_CHECK(good_steps >= 0, ValueError, "LossScaler::restore: good_steps must be >= 0, got ", good_steps);
  // Saved under other options: the nearest state these options allow.
  scale = std::min(std::max(scale, options_.min_scale), options_.max_scale);
  good_steps = std::min<std::int64_t>(good_steps, options_.growth_interval - 1);
  Tensor head = state_.slice(kernels::kLsScale, kernels::kLsGoodSteps + 1);
  head.copy_from(Tensor::from_vector({scale, 1.0f / scale, static_cast<float>(good_steps)}, {3}));
}

void LossScaler::reset_counters() {
  Tensor skipped = state_.slice(kernels::kLsSkipped, kernels::kLsSkipped + 1);
  skipped.copy_from(Tensor::zeros({1}));
}

}  // namespace tilenet::optim
