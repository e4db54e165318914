// Helpers shared by the CPU Sequential tests (test_nn_model.cpp, test_nn_callbacks.cpp).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nn/sequential.h"

namespace tilenet::nn::test_model {

inline std::vector<float> host(const Tensor& t) { return t.to_vector(); }

inline void mlp(Sequential& m, std::int64_t in, int classes, float dropout = 0.0f) {
  m.add(Input({in}));
  m.add(Dense(16, "relu"));
  if (dropout > 0) m.add(Dropout(dropout));
  m.add(Dense(classes, "softmax"));
}

inline std::string tmp_path(const std::string& name) { return ::testing::TempDir() + "tilenet_nn_" + name; }

}  // namespace tilenet::nn::test_model
