// Random fills from the Philox stream (seed, offset): element i uses stream index offset + i, so a
// tensor can be filled in pieces and CPU and GPU agree. Uniform values are bit-identical on both;
// normal values (Box-Muller in double, rounded to float) agree to within 1 ulp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

// y[i] = low + (high - low) * u(offset + i), u in (0, 1)
void rng_uniform(float* y, std::int64_t n, float low, float high, std::uint64_t seed,
                 std::uint64_t offset, cudaStream_t stream);
// y[i] = mean + stddev * z(offset + i), z standard normal
void rng_normal(float* y, std::int64_t n, float mean, float stddev, std::uint64_t seed,
                std::uint64_t offset, cudaStream_t stream);

void rng_uniform_ref(float* y, std::int64_t n, float low, float high, std::uint64_t seed,
                     std::uint64_t offset);
void rng_normal_ref(float* y, std::int64_t n, float mean, float stddev, std::uint64_t seed,
                    std::uint64_t offset);

}  // namespace tilenet::kernels
