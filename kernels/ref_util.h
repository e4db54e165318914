// Host helpers shared by the CPU references: load any storage type as double, store a double
// result back into float, half (through float, as the GPU rounds) or double.
#pragma once

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels::ref {

inline double ld(float v) { return v; }
inline double ld(double v) { return v; }
inline double ld(half v) { return half_to_float(v); }

template <typename T>
T st(double v);
template <>
inline float st<float>(double v) { return static_cast<float>(v); }
template <>
inline double st<double>(double v) { return v; }
template <>
inline half st<half>(double v) { return float_to_half(static_cast<float>(v)); }

}  // namespace tilenet::kernels::ref
