// Inverted dropout driven by the counter-based Philox stream (kernels/philox.h), so a mask is
// never stored: element i is kept when philox_uniform_at(seed, offset + i) >= rate, and kept
// values are scaled by 1 / (1 - rate). Backward regenerates the mask from (seed, offset); the CPU
// and GPU masks are identical bit for bit. Host-only header. float or half storage.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

// Throws ValueError naming `op` unless 0 <= rate < 1.
void check_dropout_rate(float rate, const char* op);

// y[i] = keep(i) ? x[i] / (1 - rate) : 0. Used for the forward (x) and the backward (dy) alike;
// y may alias x.
void dropout(const float* x, float* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset,
             cudaStream_t stream);
void dropout(const half* x, half* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset,
             cudaStream_t stream);

void dropout_ref(const float* x, float* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset);
void dropout_ref(const half* x, half* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset);
void dropout_ref(const double* x, double* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset);
// mask[i] = 1 if element i is kept, else 0 (for tests and for users who want the mask itself).
void dropout_mask_ref(std::uint8_t* mask, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset);

}  // namespace tilenet::kernels
