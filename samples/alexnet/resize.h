// Bilinear image resize for feeding small data sets (Fashion-MNIST 28x28x1, CIFAR-10 32x32x3) to
// AlexNet at 224x224x3: gathers a batch of rows from a resident NHWC set, resizes each image with
// half-pixel centres (PyTorch's interpolate(mode="bilinear", align_corners=False), TensorFlow's
// half_pixel_centers; no antialiasing, which matters only when shrinking), replicates a single
// channel to three when asked, and normalises per output channel, in one pass. Host-only header in
// the kernels/ style: raw pointers, a shape struct, a stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tilenet::samples {

struct ResizeShape {
  std::int64_t rows = 0;  // images held in the source set
  int n = 0;              // images in the batch
  int h = 0, w = 0, c = 0;
  int oh = 0, ow = 0, oc = 0;  // oc == c, or c == 1 and oc == 3 (the one channel replicated)
  std::int64_t output_size() const { return static_cast<std::int64_t>(n) * oh * ow * oc; }
};

// y = (v - mean[c]) * inv_std[c] on output channel c.
struct ChannelNorm {
  float mean[4] = {0, 0, 0, 0};
  float inv_std[4] = {1, 1, 1, 1};
};

// Throws tilenet::ShapeError/ValueError naming `op` unless every extent >= 1, oc <= 4 and
// oc == c or (c == 1 and oc == 3).
void check_resize_shape(const ResizeShape& sh, const char* op);

// x [rows, H, W, C] f32; index [n] i32 rows of x (null: rows 0..n-1); y [n, OH, OW, OC] f32.
// An index outside [0, rows) yields an all-zero image (never a read out of bounds).
// CUDA: device pointers, queued on `stream`.
void resize_bilinear(const ResizeShape& sh, const float* x, const std::int32_t* index, float* y,
                     const ChannelNorm& norm, cudaStream_t stream);
// CPU reference: host pointers, same semantics.
void resize_bilinear_ref(const ResizeShape& sh, const float* x, const std::int32_t* index, float* y,
                         const ChannelNorm& norm);

}  // namespace tilenet::samples
