// Weight initialisers (Keras names and formulas). Values are generated on the host from the
// counter-based Philox stream of `seed` and copied to the tensor's device, so a model initialised
// with the same seed holds bit-identical weights on the CPU and on the GPU.
//
//   zeros, ones
//   glorot_uniform (Keras default)  U(-l, l), l = sqrt(6 / (fan_in + fan_out))
//   glorot_normal                   truncated normal, stddev sqrt(2 / (fan_in + fan_out))
//   he_uniform                      U(-l, l), l = sqrt(6 / fan_in)
//   he_normal                       truncated normal, stddev sqrt(2 / fan_in)
//   lecun_uniform, lecun_normal     the same with 3 / fan_in and 1 / fan_in
// Truncated normals (as Keras's VarianceScaling) are cut at two standard deviations and rescaled
// by 1/0.87962566 so the variance is as stated.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace tilenet::nn {

// Throws ValueError naming the known initialisers when `name` is not one of them.
void check_initializer(const std::string& name);
// Fills `out` (f32) with the named initialiser.
void initialize(const std::string& name, Tensor& out, std::int64_t fan_in, std::int64_t fan_out, std::uint64_t seed);

}  // namespace tilenet::nn
