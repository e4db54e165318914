// What the image-set readers return: CPU tensors, images NHWC f32 and integer labels.
#pragma once

#include "tensor/tensor.h"

namespace tilenet::nn::data {

struct LabeledImages {
  Tensor x;  // f32 [N, H, W, C], in [0, 1] when scaled, else 0..255
  Tensor y;  // i32 [N]
};

}  // namespace tilenet::nn::data
