// AlexNet (torchvision's single-tower variant) as a tilenet Sequential, NHWC:
//   conv 64 11x11/4, max-pool 3/2, conv 192 5x5 same, max-pool 3/2, conv 384 3x3 same,
//   conv 256 3x3 same, conv 256 3x3 same, max-pool 3/2, flatten, dropout 0.5, dense 4096,
//   dropout 0.5, dense 4096, dense classes (softmax).
// torchvision pads conv1 by 2 on every side; Keras-style layers pad "valid" or "same" only, so the
// input size picks conv1's padding: 227 with "valid" gives conv1 55x55, exactly torchvision's
// shapes at 224 from there on (same FLOPs); any other size (224) uses "same" (224 -> 56x56).
// bn: BatchNormalization after every convolution (which then has no bias), before its ReLU.
#pragma once

#include <cstdint>

#include "nn/sequential.h"

namespace tilenet::samples {

inline void build_alexnet(nn::Sequential& m, int size, int classes, bool bn) {
  m.add(nn::Input({size, size, 3}));
  auto conv = [&](std::int64_t filters, int kernel, int stride, const char* padding) {
    if (bn) {
      m.add(nn::Conv2D(filters, kernel, stride, padding, "", /*use_bias=*/false));
      m.add(nn::BatchNormalization());
      m.add(nn::ReLU());
    } else {
      m.add(nn::Conv2D(filters, kernel, stride, padding, "relu"));
    }
  };
  conv(64, 11, 4, size == 227 ? "valid" : "same");
  m.add(nn::MaxPool2D(3, 2));
  conv(192, 5, 1, "same");
  m.add(nn::MaxPool2D(3, 2));
  conv(384, 3, 1, "same");
  conv(256, 3, 1, "same");
  conv(256, 3, 1, "same");
  m.add(nn::MaxPool2D(3, 2));
  m.add(nn::Flatten());
  m.add(nn::Dropout(0.5f));
  m.add(nn::Dense(4096, "relu"));
  m.add(nn::Dropout(0.5f));
  m.add(nn::Dense(4096, "relu"));
  m.add(nn::Dense(classes, "softmax"));
  m.build(m.input_shape());
}

}  // namespace tilenet::samples
