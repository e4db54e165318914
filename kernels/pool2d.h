// 2-D pooling on NHWC activations: max (with argmax indices for backward), average (padding
// excluded from the count) and global average. Host-only header: raw pointers, a shape struct, a
// stream. float and half storage; arithmetic in float (references: double where it sums).
//
// Output geometry: P = (H + pad_top + pad_bottom - R) / stride_h + 1, likewise Q. Every padding is
// smaller than its window extent, so every window holds at least one real input.
// Backward passes gather: each input element sums the outputs whose windows cover it, in a fixed
// order, so overlapping windows add up deterministically with no atomics.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

struct Pool2dShape {
  int n = 0, h = 0, w = 0, c = 0;  // input [N, H, W, C]
  int r = 1, s = 1;                // window height, width
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

  int p() const { return (h + pad_top + pad_bottom - r) / stride_h + 1; }
  int q() const { return (w + pad_left + pad_right - s) / stride_w + 1; }
  std::int64_t input_size() const { return static_cast<std::int64_t>(n) * h * w * c; }
  std::int64_t output_size() const { return static_cast<std::int64_t>(n) * p() * q() * c; }
};

// Throws ValueError/ShapeError naming `op` unless: every extent >= 1, strides >= 1,
// 0 <= padding < window extent on each side, and the padded input holds at least one window.
void check_pool2d_shape(const Pool2dShape& sh, const char* op);

// --- CUDA launchers (device pointers; queued on `stream`)
// y [N, P, Q, C]; indices [N, P, Q, C] i32: argmax as h * W + w (first maximum in row-major window
// order; NaN wins and propagates). indices may be null (inference).
void max_pool2d_forward(const Pool2dShape& sh, const float* x, float* y, std::int32_t* indices, cudaStream_t stream);
void max_pool2d_forward(const Pool2dShape& sh, const half* x, half* y, std::int32_t* indices, cudaStream_t stream);
// dx [N, H, W, C] overwritten: dx[h, w] = sum of dy over the outputs whose argmax is (h, w).
void max_pool2d_backward(const Pool2dShape& sh, const float* dy, const std::int32_t* indices, float* dx,
                         cudaStream_t stream);
void max_pool2d_backward(const Pool2dShape& sh, const half* dy, const std::int32_t* indices, half* dx,
                         cudaStream_t stream);
// Average over the real (unpadded) elements of each window.
void avg_pool2d_forward(const Pool2dShape& sh, const float* x, float* y, cudaStream_t stream);
void avg_pool2d_forward(const Pool2dShape& sh, const half* x, half* y, cudaStream_t stream);
void avg_pool2d_backward(const Pool2dShape& sh, const float* dy, float* dx, cudaStream_t stream);
void avg_pool2d_backward(const Pool2dShape& sh, const half* dy, half* dx, cudaStream_t stream);
// x [N, HW, C] -> y [N, C] (mean over HW); backward: dx[n, i, c] = dy[n, c] / HW.
void global_avg_pool_forward(const float* x, float* y, std::int64_t n, std::int64_t hw, std::int64_t c,
                             cudaStream_t stream);
void global_avg_pool_forward(const half* x, half* y, std::int64_t n, std::int64_t hw, std::int64_t c,
                             cudaStream_t stream);
void global_avg_pool_backward(const float* dy, float* dx, std::int64_t n, std::int64_t hw, std::int64_t c,
                              cudaStream_t stream);
void global_avg_pool_backward(const half* dy, half* dx, std::int64_t n, std::int64_t hw, std::int64_t c,
                              cudaStream_t stream);

// --- CPU references (host pointers; same semantics). The double overloads serve gradient checks.
void max_pool2d_forward_ref(const Pool2dShape& sh, const float* x, float* y, std::int32_t* indices);
void max_pool2d_forward_ref(const Pool2dShape& sh, const half* x, half* y, std::int32_t* indices);
void max_pool2d_forward_ref(const Pool2dShape& sh, const double* x, double* y, std::int32_t* indices);
void max_pool2d_backward_ref(const Pool2dShape& sh, const float* dy, const std::int32_t* indices, float* dx);
void max_pool2d_backward_ref(const Pool2dShape& sh, const half* dy, const std::int32_t* indices, half* dx);
void max_pool2d_backward_ref(const Pool2dShape& sh, const double* dy, const std::int32_t* indices, double* dx);
void avg_pool2d_forward_ref(const Pool2dShape& sh, const float* x, float* y);
void avg_pool2d_forward_ref(const Pool2dShape& sh, const half* x, half* y);
void avg_pool2d_forward_ref(const Pool2dShape& sh, const double* x, double* y);
void avg_pool2d_backward_ref(const Pool2dShape& sh, const float* dy, float* dx);
void avg_pool2d_backward_ref(const Pool2dShape& sh, const half* dy, half* dx);
void avg_pool2d_backward_ref(const Pool2dShape& sh, const double* dy, double* dx);
void global_avg_pool_forward_ref(const float* x, float* y, std::int64_t n, std::int64_t hw, std::int64_t c);
void global_avg_pool_forward_ref(const half* x, half* y, std::int64_t n, std::int64_t hw, std::int64_t c);
void global_avg_pool_forward_ref(const double* x, double* y, std::int64_t n, std::int64_t hw, std::int64_t c);
void global_avg_pool_backward_ref(const float* dy, float* dx, std::int64_t n, std::int64_t hw, std::int64_t c);
void global_avg_pool_backward_ref(const half* dy, half* dx, std::int64_t n, std::int64_t hw, std::int64_t c);
void global_avg_pool_backward_ref(const double* dy, double* dx, std::int64_t n, std::int64_t hw, std::int64_t c);

}  // namespace tilenet::kernels
