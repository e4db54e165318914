// Mixed-precision helpers (kernels/loss_scale.h). check_finite: a grid-stride scan with 16-byte loads
// when aligned; a block that sees inf/NaN sets a flag word, and the last block to finish (a
// completion ticket) writes *skip = flag and clears the scratch, so one launch writes the exact
// answer with no host round trip. The loss-scale update is one thread.
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cuda_utils.cuh"
#include "kernels/launch.h"
#include "kernels/loss_scale.h"

namespace tilenet::kernels {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ bool nonfinite(float v) {
  return (__float_as_uint(v) & 0x7f800000u) == 0x7f800000u;
}

template <bool kUnscale>
__global__ void __launch_bounds__(kThreads)
    check_finite_kernel(float* grads, std::int64_t n, const float* inv_scale, float* skip, std::uint32_t* scratch,
                        bool vec) {
  const float s = kUnscale ? *inv_scale : 1.0f;
  bool bad = false;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t done = 0;
  if (vec) {
    const std::int64_t npacks = n / kPack;
    for (std::int64_t q = start; q < npacks; q += stride) {
      Pack<float> g = load_pack(grads + q * kPack);
#pragma unroll
      for (int k = 0; k < kPack; ++k) {
        bad |= nonfinite(g.v[k]);
        if (kUnscale) g.v[k] *= s;
      }
      if (kUnscale) store_pack(grads + q * kPack, g);
    }
    done = npacks * kPack;
  }
  for (std::int64_t i = done + start; i < n; i += stride) {
    const float v = grads[i];
    bad |= nonfinite(v);
    if (kUnscale) grads[i] = v * s;
  }
  const bool block_bad = __syncthreads_or(bad);
  if (threadIdx.x == 0) {
    if (block_bad) atomicOr(&scratch[0], 1u);
    __threadfence();
    if (atomicAdd(&scratch[1], 1u) == gridDim.x - 1) {
      *skip = atomicOr(&scratch[0], 0u) ? 1.0f : 0.0f;
      scratch[0] = 0;
      scratch[1] = 0;
    }
  }
}

__global__ void loss_scale_update_kernel(float* state, const float* skip, LossScaleConfig c) {
  if (*skip != 0.0f) {
    state[kLsSkipped] += 1.0f;
    state[kLsGoodSteps] = 0.0f;
    if (c.dynamic) state[kLsScale] = fmaxf(state[kLsScale] * 0.5f, c.min_scale);
  } else {
    state[kLsGoodSteps] += 1.0f;
    if (c.dynamic && state[kLsGoodSteps] >= static_cast<float>(c.growth_interval)) {
      state[kLsScale] = fminf(state[kLsScale] * 2.0f, c.max_scale);
      state[kLsGoodSteps] = 0.0f;
    }
  }
  state[kLsInvScale] = 1.0f / state[kLsScale];
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    scale_by_scalar_kernel(T* x, std::int64_t n, const float* sp, bool vec) {
  const float s = *sp;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t done = 0;
  if (vec) {
    const std::int64_t npacks = n / kPack;
    for (std::int64_t q = start; q < npacks; q += stride) {
      Pack<T> v = load_pack(x + q * kPack);
#pragma unroll
      for (int k = 0; k < kPack; ++k) v.v[k] = from_float<T>(to_float(v.v[k]) * s);
      store_pack(x + q * kPack, v);
    }
    done = npacks * kPack;
  }
  for (std::int64_t i = done + start; i < n; i += stride) x[i] = from_float<T>(to_float(x[i]) * s);
}

void check_args(const char* op, const void* p, std::int64_t n) {
  TILENET_CHECK(n >= 0, ValueError, op, ": element count must be >= 0, got ", n);
  TILENET_CHECK(n == 0 || p, ValueError, op, ": data pointer is null for ", n, " elements");
}

template <bool kUnscale>
void launch_check(const char* op, float* grads, std::int64_t n, const float* inv_scale, float* skip,
                  std::uint32_t* scratch, cudaStream_t stream) {
  check_args(op, grads, n);
  TILENET_CHECK(skip && scratch && (!kUnscale || inv_scale), ValueError, op,
                ": null skip, scratch or inv_scale pointer");
  const bool vec = is_aligned(grads, 16);
  const unsigned grid = grid_for(vec ? n / kPack + n % kPack : n, kThreads);
  check_finite_kernel<kUnscale><<<grid, kThreads, 0, stream>>>(grads, n, inv_scale, skip, scratch, vec);
  check_launch(op, stream);
}

template <typename T>
void launch_scale(T* x, std::int64_t n, const float* s, cudaStream_t stream) {
  check_args("scale_by_device_scalar", x, n);
  TILENET_CHECK(s, ValueError, "scale_by_device_scalar: scalar pointer is null");
  if (n == 0) return;
  const bool vec = is_aligned(x, 16);
  scale_by_scalar_kernel<T><<<grid_for(vec ? n / kPack + n % kPack : n, kThreads), kThreads, 0, stream>>>(x, n, s, vec);
  check_launch("scale_by_device_scalar", stream);
}

}  // namespace

void check_finite(const float* grads, std::int64_t n, float* skip, std::uint32_t* scratch, cudaStream_t stream) {
  launch_check<false>("check_finite", const_cast<float*>(grads), n, nullptr, skip, scratch, stream);
}

void check_finite_and_unscale(float* grads, std::int64_t n, const float* inv_scale, float* skip,
                              std::uint32_t* scratch, cudaStream_t stream) {
  launch_check<true>("check_finite_and_unscale", grads, n, inv_scale, skip, scratch, stream);
}

void loss_scale_update(float* state, const float* skip, const LossScaleConfig& config, cudaStream_t stream) {
  TILENET_CHECK(state && skip, ValueError, "loss_scale_update: null state or skip pointer");
  TILENET_CHECK(config.growth_interval > 0, ValueError, "loss_scale_update: growth_interval must be > 0, got ",
                config.growth_interval);
  loss_scale_update_kernel<<<1, 1, 0, stream>>>(state, skip, config);
  check_launch("loss_scale_update", stream);
}

void scale_by_device_scalar(float* x, std::int64_t n, const float* s, cudaStream_t stream) {
  launch_scale(x, n, s, stream);
}
void scale_by_device_scalar(half* x, std::int64_t n, const float* s, cudaStream_t stream) {
  launch_scale(x, n, s, stream);
}

}  // namespace tilenet::kernels
