// CPU references for kernels/rng.h; the same Philox stream as the CUDA kernels.
#include <cmath>

#include "kernels/philox.h"
#include "kernels/rng.h"

namespace tilenet::kernels {

// Normals use their own counter domain (top bit set) so they are independent of the uniforms.
float philox_normal_at(std::uint64_t seed, std::uint64_t index) {
  const Philox4 r = philox4x32(index | (1ull << 63), seed);
  const double u1 = philox_uniform01(r.v[0]), u2 = philox_uniform01(r.v[1]);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

void rng_uniform_ref(float* y, std::int64_t n, float low, float high, std::uint64_t seed, std::uint64_t offset) {
  const float span = high - low;
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::fma(span, philox_uniform_at(seed, offset + i), low);
}

void rng_normal_ref(float* y, std::int64_t n, float mean, float stddev, std::uint64_t seed, std::uint64_t offset) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::fma(stddev, philox_normal_at(seed, offset + i), mean);
}

}  // namespace tilenet::kernels
