// Synthetic data for the nn tests: Gaussian blobs, one centre per class, learnable in a few steps.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tensor/tensor.h"

namespace tilenet::nn::test_data {

struct Blobs {
  Tensor x;  // f32 [n, features...]
  Tensor y;  // i32 [n]
  Tensor onehot;  // f32 [n, classes]
};

inline Blobs blobs(std::int64_t n, const Shape& sample, int classes, std::uint64_t seed, float noise = 0.5f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const std::int64_t d = sample.numel();
  std::vector<float> centres(static_cast<std::size_t>(classes * d));
  for (float& c : centres) c = nd(gen);
  std::vector<float> x(static_cast<std::size_t>(n * d)), oh(static_cast<std::size_t>(n * classes), 0.0f);
  std::vector<std::int32_t> y(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(gen() % static_cast<std::uint64_t>(classes));
    y[i] = c;
    oh[i * classes + c] = 1.0f;
    for (std::int64_t j = 0; j < d; ++j) x[i * d + j] = centres[c * d + j] + noise * nd(gen);
  }
  std::vector<std::int64_t> dims{n};
  for (auto e : sample.vec()) dims.push_back(e);
  return {Tensor::from_vector(x, Shape(dims)), Tensor::from_ints(y, {n}), Tensor::from_vector(oh, {n, classes})};
}

}  // namespace tilenet::nn::test_data
