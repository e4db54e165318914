// Pooling on NHWC tensors (kernels/pool2d.h underneath). f32 or f16.
#pragma once

#include "tensor/tensor.h"

namespace tilenet {

struct Pool2dOptions {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

// [N, P, Q, C] for x [N, H, W, C]; throws ShapeError naming the op when the window does not fit.
Shape pool2d_output_shape(const Shape& x, const Pool2dOptions& opt);

// Max pooling. indices (i32, same shape as out) records, per output, the argmax as h * W + w
// within its image and channel: what backward needs. Padding never wins; the first maximum in
// row-major window order wins ties; NaN propagates. indices may be undefined (inference).
void max_pool2d_forward_into(const Tensor& x, Tensor& out, Tensor& indices, const Pool2dOptions& opt);
// dx [N, H, W, C] overwritten: each dy routed to its argmax (summed where windows overlap).
void max_pool2d_backward_into(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dOptions& opt);

// Average pooling; padded positions are excluded from the count (Keras, and PyTorch with
// count_include_pad=False).
void avg_pool2d_forward_into(const Tensor& x, Tensor& out, const Pool2dOptions& opt);
void avg_pool2d_backward_into(const Tensor& dy, Tensor& dx, const Pool2dOptions& opt);

// Global average pooling: x [N, H, W, C] -> out [N, C]; backward spreads dy / (H*W).
void global_avg_pool_forward_into(const Tensor& x, Tensor& out);
void global_avg_pool_backward_into(const Tensor& dy, Tensor& dx);

}  // namespace tilenet
