// IEEE 754 binary16 storage type for host code. Host-only: kernels reinterpret the same bits as
// __half. Conversions round to nearest even and keep infinities, NaN and subnormals.
#pragma once

#include <cstdint>
#include <cstring>

namespace tilenet {

struct half {
  std::uint16_t bits = 0;
};
static_assert(sizeof(half) == 2, "half must be two bytes");

inline float half_to_float(half h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h.bits & 0x8000u) << 16;
  std::uint32_t exp = (h.bits >> 10) & 0x1fu;
  std::uint32_t man = h.bits & 0x3ffu;
  std::uint32_t out;
  if (exp == 0) {
    if (man == 0) {
      out = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      out = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    out = sign | 0x7f800000u | man << 13;  // inf or NaN (payload kept)
  } else {
    out = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &out, sizeof f);
  return f;
}

inline half float_to_half(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t abs = x & 0x7fffffffu;
  half h;
  if (abs >= 0x7f800000u) {  // inf or NaN
    h.bits = sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u);
    return h;
  }
  if (abs >= 0x477ff000u) {  // rounds to >= 65520: overflow to inf
    h.bits = sign | 0x7c00u;
    return h;
  }
  if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    if (abs < 0x33000000u) {  // < 2^-25 rounds to zero
      h.bits = sign;
      return h;
    }
    const std::uint32_t e = abs >> 23;
    const std::uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // value / 2^-24 = m * 2^(e - 126)
    std::uint32_t v = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (v & 1u))) ++v;
    h.bits = sign | static_cast<std::uint16_t>(v);
    return h;
  }
  std::uint32_t v = abs - (112u << 23);  // rebias exponent 127 -> 15
  const std::uint32_t rem = v & 0x1fffu;
  v >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (v & 1u))) ++v;
  h.bits = sign | static_cast<std::uint16_t>(v);
  return h;
}

}  // namespace tilenet
