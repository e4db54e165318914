// Links the installed static library and runs a few ops on the default device.
#include <cstdio>

#include "tensor/ops.h"
#include "tensor/tensor.h"

int main() {
  using namespace tilenet;
  const Device dev = default_device();
  Tensor a = Tensor::uniform({4, 3}, -1.0f, 1.0f, 7, dev);
  Tensor b = Tensor::full({4, 3}, 0.5f, DType::f32, dev);
  const float s = sum(relu(add(a, b))).item();
  std::printf("tilenet consumer OK on %s: sum = %.6f\n", dev.str().c_str(), s);
  return s >= 0.0f ? 0 : 1;
}
