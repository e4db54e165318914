// 2-D convolution on NHWC tensors with KRSC filters (kernels/conv2d.h underneath).
// Cross-correlation, as in every DL framework. Padding may be asymmetric (Keras "same" with
// stride > 1 pads more at the bottom/right).
#pragma once

#include "kernels/gemm.h"
#include "tensor/tensor.h"

namespace tilenet {

struct Conv2dOptions {
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
};

// [N, P, Q, K] for x [N, H, W, C] and w [K, R, S, C]; throws ShapeError naming conv2d when the
// operands disagree or the output would be empty.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dOptions& opt);

// Device workspace (bytes) the largest of the three CUDA passes needs for input x [N, H, W, C] and
// filters w [K, R, S, C] in `dtype`. A caller that passes a CUDA tensor of at least that many bytes
// (256-byte aligned) as `workspace` to the *_into calls below makes them allocate nothing; without
// one (or with one too small) each CUDA call takes a block from the caching allocator.
// with_backward_data = false leaves backward-data out: for a layer whose input gradient is never
// computed (a network's first layer), whose backward-data can need far more than the other two
// (AlexNet's conv1: a 255 MB gather buffer at batch 128, against 7 MB).
std::size_t conv2d_workspace_size(const Shape& x, const Shape& w, const Conv2dOptions& opt, DType dtype,
                                  bool with_backward_data = true);

// out = act(conv(x, w) + bias). x, w, out: all f32 or all f16; bias: f32 [K] or undefined.
void conv2d_forward_into(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out,
                         const Conv2dOptions& opt, kernels::Activation act = kernels::Activation::none,
                         const Tensor& workspace = Tensor());
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt,
                      kernels::Activation act = kernels::Activation::none);
// dx [N, H, W, C] = gradient wrt x of sum(dy * conv(x, w)); overwritten. dy, w, dx same dtype.
void conv2d_backward_data_into(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dOptions& opt,
                               const Tensor& workspace = Tensor());
// dw [K, R, S, C] = gradient wrt w; overwritten, or added to when accumulate. x, dy same dtype;
// dw f32 (or the same dtype as x).
void conv2d_backward_filter_into(const Tensor& x, const Tensor& dy, Tensor& dw, const Conv2dOptions& opt,
                                 bool accumulate = false, const Tensor& workspace = Tensor());

}  // namespace tilenet
