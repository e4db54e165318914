// Shared test helpers: seeded random data (seed printed on failure), poisoning, tolerance checks
// and the GPU skip.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/half.h"

// GPU tests skip with a message on machines without a device (ctest label `gpu`).
#define TILENET_REQUIRE_GPU()                                                    \
  do {                                                                           \
    if (!::tilenet::cuda_available()) GTEST_SKIP() << "no CUDA device";          \
  } while (0)

namespace tilenet::test {

// Smaller problem sizes when TILENET_TEST_SMALL is set (used under compute-sanitizer).
bool small_mode();

// Fixed default seed; tests record it with SCOPED_TRACE so a failure names it.
constexpr std::uint64_t kSeed = 20261123;

std::vector<float> random_uniform(std::size_t n, float lo, float hi, std::uint64_t seed);
// Small integers in [lo, hi]: products and sums stay exact in fp32.
std::vector<float> random_ints(std::size_t n, int lo, int hi, std::uint64_t seed);
std::vector<half> to_half(const std::vector<float>& v);
std::vector<float> to_float(const std::vector<half>& v);
// Rounds each value through fp16 (what an f16 input holds).
std::vector<float> round_to_half(const std::vector<float>& v);

// NaN in every slot: an element the kernel does not write fails the comparison.
inline float poison_f32() { return std::numeric_limits<float>::quiet_NaN(); }
inline half poison_f16() { return half{0x7e00}; }

double l2_norm(const std::vector<float>& v);

// Every element within atol + rtol*|ref|; reports the worst element and the count of failures.
::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& ref, double atol,
                                     double rtol);
// Bitwise equality (NaNs equal only to NaNs).
::testing::AssertionResult all_equal(const std::vector<float>& got, const std::vector<float>& ref);

// The exception's message contains every fragment.
template <typename Exc, typename F>
::testing::AssertionResult throws_with(F&& f, std::initializer_list<const char*> fragments) {
  try {
    f();
  } catch (const Exc& e) {
    const std::string msg = e.what();
    for (const char* frag : fragments)
      if (msg.find(frag) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << msg << "\" lacks \"" << frag << "\"";
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another type: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace tilenet::test
