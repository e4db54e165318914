// Philox random fills. Uniform: each thread draws one Philox block (4 values) for 4 consecutive
// stream indices. Normal: one block per value, Box-Muller in double so the result rounds to the
// same float as the CPU reference (within 1 ulp). Explicit fma on both sides keeps the affine
// map bit-identical (nvcc would otherwise contract it and the host compiler would not). Compute-light next to the store; not tuned.
#include "kernels/launch.h"
#include "kernels/philox.h"
#include "kernels/rng.h"

namespace tilenet::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) uniform_kernel(float* y, std::int64_t n, float low, float span,
                                                           std::uint64_t seed, std::uint64_t offset) {
  // Blocks of 4 stream indices covering [offset, offset + n).
  const std::uint64_t first = offset >> 2, last = (offset + n + 3) >> 2;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t b = first + blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x; b < last;
       b += stride) {
    const Philox4 r = philox4x32(b, seed);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const std::uint64_t idx = b * 4 + lane;
      if (idx >= offset && idx < offset + static_cast<std::uint64_t>(n))
        y[idx - offset] = __fmaf_rn(span, philox_uniform01(r.v[lane]), low);
    }
  }
}

__global__ void __launch_bounds__(kThreads) normal_kernel(float* y, std::int64_t n, float mean, float stddev,
                                                          std::uint64_t seed, std::uint64_t offset) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const Philox4 r = philox4x32((offset + i) | (1ull << 63), seed);
    const double u1 = philox_uniform01(r.v[0]), u2 = philox_uniform01(r.v[1]);
    y[i] = __fmaf_rn(stddev, static_cast<float>(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2)), mean);
  }
}

void check_args(const char* op, const float* y, std::int64_t n) {
  if (n < 0) throw ValueError(detail::make_message(op, ": n must be >= 0, got ", n));
  if (n > 0 && !y) throw ValueError(detail::make_message(op, ": output is null"));
}

}  // namespace

void rng_uniform(float* y, std::int64_t n, float low, float high, std::uint64_t seed, std::uint64_t offset,
                 cudaStream_t s) {
  check_args("rng_uniform", y, n);
  if (n == 0) return;
  uniform_kernel<<<grid_for(n / 4 + 2, kThreads), kThreads, 0, s>>>(y, n, low, high - low, seed, offset);
  check_launch("rng_uniform", s);
}

void rng_normal(float* y, std::int64_t n, float mean, float stddev, std::uint64_t seed, std::uint64_t offset,
                cudaStream_t s) {
  check_args("rng_normal", y, n);
  if (n == 0) return;
  normal_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(y, n, mean, stddev, seed, offset);
  check_launch("rng_normal", s);
}

}  // namespace tilenet::kernels
