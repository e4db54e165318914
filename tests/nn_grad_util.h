// Gradient-check helpers shared by the CPU nn gradient tests (test_nn_grad.cpp,
// test_nn_loss_grad.cpp): seeded uniform data and the central-difference comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace tilenet::nn::grad_check {

inline std::vector<float> rnd(std::size_t n, float lo, float hi, std::uint64_t seed) {
  return test::random_uniform(n, lo, hi, seed);
}

// Compares analytic gradients with central differences for the entries `which` of a tensor that
// `set` writes and `objective` reads.
inline void check_entries(const std::string& what, std::vector<float> base, const std::vector<float>& analytic,
                   const std::function<void(const std::vector<float>&)>& set, const std::function<double()>& objective,
                   double eps, double atol = 2e-3, double rtol = 2e-2) {
  ASSERT_EQ(base.size(), analytic.size()) << what;
  double norm = 0.0;
  for (float g : analytic) norm += std::fabs(g);
  EXPECT_GT(norm, 0.0) << what << ": analytic gradient is all zeros";
  for (std::size_t i = 0; i < base.size(); ++i) {
    const float orig = base[i];
    base[i] = orig + static_cast<float>(eps);
    set(base);
    const double jp = objective();
    base[i] = orig - static_cast<float>(eps);
    set(base);
    const double jm = objective();
    base[i] = orig;
    const double num = (jp - jm) / (2.0 * eps);
    EXPECT_NEAR(analytic[i], num, atol + rtol * std::fabs(num)) << what << " entry " << i;
  }
  set(base);
}

}  // namespace tilenet::nn::grad_check
