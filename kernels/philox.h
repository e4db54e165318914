// Philox4x32-10 counter-based generator (Salmon et al., SC'11), usable from host and device code.
// Element i of a stream (seed, offset) is drawn from counter (offset + i) / 4, lane (offset + i) % 4
// for uniforms, so CPU and GPU produce identical bits for the same seed.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define TILENET_HD __host__ __device__ __forceinline__
#else
#define TILENET_HD inline
#endif

namespace tilenet::kernels {

struct Philox4 {
  std::uint32_t v[4];
};

TILENET_HD void philox_mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

TILENET_HD Philox4 philox4x32(std::uint64_t counter, std::uint64_t seed) {
  std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32);
  std::uint32_t c2 = 0, c3 = 0;
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    std::uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1): 24 random bits, centred in their interval so 0 and 1 never occur.
TILENET_HD float philox_uniform01(std::uint32_t bits) {
  return (static_cast<float>(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// The i-th uniform (0, 1) of stream (seed, offset).
TILENET_HD float philox_uniform_at(std::uint64_t seed, std::uint64_t index) {
  const Philox4 r = philox4x32(index >> 2, seed);
  return philox_uniform01(r.v[index & 3]);
}

}  // namespace tilenet::kernels
