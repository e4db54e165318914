// Convolution on Tensors: argument checks naming the op, then cuda -> kernels/conv2d.cu (workspace:
// the caller's, or from the caching allocator), cpu -> kernels/conv2d_cpu.cpp.
#include "tensor/conv.h"

#include <algorithm>

#include "kernels/conv2d.h"
#include "kernels/launch.h"
#include "tensor/memory.h"
#include "tensor/op_util.h"

namespace tilenet {
namespace {

using detail::check_float;
using detail::check_matches;
using detail::check_like;
using detail::check_shape;
using detail::stream_of;


using kernels::Conv2dPass;
using kernels::Conv2dShape;

// The kernel shape for input x [N, H, W, C] and filters w [K, R, S, C].
Conv2dShape conv_shape(const Shape& x, const Shape& w, const Conv2dOptions& opt, const char* op) {
  detail::check_4d_extents(x, op, "input", "[N, H, W, C]");
  detail::check_4d_extents(w, op, "filters", "[K, R, S, C]");
  TILENET_CHECK(x[3] == w[3], ShapeError, op, ": input ", x.str(), " has ", x[3], " channels but filters ", w.str(),
                " expect ", w[3], " (x is [N, H, W, C], w is [K, R, S, C])");
  Conv2dShape sh;
  sh.n = static_cast<int>(x[0]);
  sh.h = static_cast<int>(x[1]);
  sh.w = static_cast<int>(x[2]);
  sh.c = static_cast<int>(x[3]);
  sh.k = static_cast<int>(w[0]);
  sh.r = static_cast<int>(w[1]);
  sh.s = static_cast<int>(w[2]);
  sh.stride_h = opt.stride_h;
  sh.stride_w = opt.stride_w;
  sh.pad_top = opt.pad_top;
  sh.pad_left = opt.pad_left;
  sh.pad_bottom = opt.pad_bottom;
  sh.pad_right = opt.pad_right;
  sh.dilation_h = opt.dilation_h;
  sh.dilation_w = opt.dilation_w;
  kernels::check_conv2d_shape(sh, op);
  return sh;
}

Shape out_shape(const Conv2dShape& sh) { return Shape{sh.n, sh.p(), sh.q(), sh.k}; }

// Device workspace for a CUDA pass: the caller's `given` when it is large enough and aligned, else a
// block from the caching allocator (none when the pass needs none).
struct Workspace {
  DeviceBuffer owned;
  void* ptr = nullptr;
  std::size_t bytes = 0;
};
Workspace workspace(const Conv2dShape& sh, Conv2dPass pass, const Tensor& like, const Tensor& given) {
  Workspace ws;
  const std::size_t need = kernels::conv2d_workspace_bytes(sh, pass, like.dtype() == DType::f16);
  if (need == 0) return ws;
  if (given.defined() && given.device() == like.device() && given.nbytes() >= need &&
      kernels::is_aligned(given.raw_data(), 256)) {
    ws.ptr = given.raw_data();
    ws.bytes = given.nbytes();
    return ws;
  }
  ws.owned = DeviceBuffer(need, like.device().index, stream_of(like));
  ws.ptr = ws.owned.data();
  ws.bytes = need;
  return ws;
}

}  // namespace

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dOptions& opt) {
  return out_shape(conv_shape(x, w, opt, "conv2d"));
}

std::size_t conv2d_workspace_size(const Shape& x, const Shape& w, const Conv2dOptions& opt, DType dtype,
                                  bool with_backward_data) {
  const Conv2dShape sh = conv_shape(x, w, opt, "conv2d_workspace_size");
  std::size_t bytes = 0;
  for (Conv2dPass pass : {Conv2dPass::forward, Conv2dPass::backward_data, Conv2dPass::backward_filter})
    if (with_backward_data || pass != Conv2dPass::backward_data)
      bytes = std::max(bytes, kernels::conv2d_workspace_bytes(sh, pass, dtype == DType::f16));
  return bytes;
}

void conv2d_forward_into(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out,
                         const Conv2dOptions& opt, kernels::Activation act, const Tensor& workspace_given) {
  const char* op = "conv2d_forward";
  check_float(x, op, "x");
  check_matches(x, w, op, "w");
  check_matches(x, out, op, "out");
  const Conv2dShape sh = conv_shape(x.shape(), w.shape(), opt, op);
  check_shape(out, out_shape(sh), op, "out");
  const float* b = nullptr;
  if (bias.defined()) {
    check_same_device(x, bias, op);
    TILENET_CHECK(bias.dtype() == DType::f32, DtypeError, op, ": bias must be f32 (for f32 and f16 convolutions), got ",
                  dtype_name(bias.dtype()));
    check_shape(bias, Shape{sh.k}, op, "bias");
    b = bias.data<float>();
  }
  if (x.is_cuda()) {
    const Workspace ws = workspace(sh, Conv2dPass::forward, x, workspace_given);
    if (x.dtype() == DType::f32)
      kernels::conv2d_forward(sh, x.data<float>(), w.data<float>(), b, out.data<float>(), act, ws.ptr, ws.bytes,
                              stream_of(x));
    else
      kernels::conv2d_forward(sh, x.data<half>(), w.data<half>(), b, out.data<half>(), act, ws.ptr, ws.bytes,
                              stream_of(x));
  } else if (x.dtype() == DType::f32) {
    kernels::conv2d_forward_cpu(sh, x.data<float>(), w.data<float>(), b, out.data<float>(), act);
  } else {
    kernels::conv2d_forward_cpu(sh, x.data<half>(), w.data<half>(), b, out.data<half>(), act);
  }
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt,
                      kernels::Activation act) {
  check_float(x, "conv2d_forward", "x");
  check_defined(w, "conv2d_forward", "w");
  Tensor out = Tensor::empty(out_shape(conv_shape(x.shape(), w.shape(), opt, "conv2d_forward")), x.dtype(), x.device());
  conv2d_forward_into(x, w, bias, out, opt, act);
  return out;
}

void conv2d_backward_data_into(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dOptions& opt,
                               const Tensor& workspace_given) {
  const char* op = "conv2d_backward_data";
  check_float(dy, op, "dy");
  check_matches(dy, w, op, "w");
  check_matches(dy, dx, op, "dx");
  const Conv2dShape sh = conv_shape(dx.shape(), w.shape(), opt, op);
  check_shape(dy, out_shape(sh), op, "dy");
  if (dy.is_cuda()) {
    const Workspace ws = workspace(sh, Conv2dPass::backward_data, dy, workspace_given);
    if (dy.dtype() == DType::f32)
      kernels::conv2d_backward_data(sh, dy.data<float>(), w.data<float>(), dx.data<float>(), ws.ptr, ws.bytes,
                                    stream_of(dy));
    else
      kernels::conv2d_backward_data(sh, dy.data<half>(), w.data<half>(), dx.data<half>(), ws.ptr, ws.bytes,
                                    stream_of(dy));
  } else if (dy.dtype() == DType::f32) {
    kernels::conv2d_backward_data_cpu(sh, dy.data<float>(), w.data<float>(), dx.data<float>());
  } else {
    kernels::conv2d_backward_data_cpu(sh, dy.data<half>(), w.data<half>(), dx.data<half>());
  }
}

void conv2d_backward_filter_into(const Tensor& x, const Tensor& dy, Tensor& dw, const Conv2dOptions& opt,
                                 bool accumulate, const Tensor& workspace_given) {
  const char* op = "conv2d_backward_filter";
  check_float(x, op, "x");
  check_matches(x, dy, op, "dy");
  check_float(dw, op, "dw");
  check_same_device(x, dw, op);
  TILENET_CHECK(dw.dtype() == DType::f32 || dw.dtype() == x.dtype(), DtypeError, op, ": dw must be f32 or ",
                dtype_name(x.dtype()), " (the inputs' dtype), got ", dtype_name(dw.dtype()));
  const Conv2dShape sh = conv_shape(x.shape(), dw.shape(), opt, op);
  check_shape(dy, out_shape(sh), op, "dy");
  if (x.is_cuda()) {
    const Workspace ws = workspace(sh, Conv2dPass::backward_filter, x, workspace_given);
    if (x.dtype() == DType::f32)
      kernels::conv2d_backward_filter(sh, x.data<float>(), dy.data<float>(), dw.data<float>(), accumulate, ws.ptr,
                                      ws.bytes, stream_of(x));
    else if (dw.dtype() == DType::f32)
      kernels::conv2d_backward_filter(sh, x.data<half>(), dy.data<half>(), dw.data<float>(), accumulate, ws.ptr,
                                      ws.bytes, stream_of(x));
    else
      kernels::conv2d_backward_filter(sh, x.data<half>(), dy.data<half>(), dw.data<half>(), accumulate, ws.ptr,
                                      ws.bytes, stream_of(x));
  } else if (x.dtype() == DType::f32) {
    kernels::conv2d_backward_filter_cpu(sh, x.data<float>(), dy.data<float>(), dw.data<float>(), accumulate);
  } else if (dw.dtype() == DType::f32) {
    kernels::conv2d_backward_filter_cpu(sh, x.data<half>(), dy.data<half>(), dw.data<float>(), accumulate);
  } else {
    kernels::conv2d_backward_filter_cpu(sh, x.data<half>(), dy.data<half>(), dw.data<half>(), accumulate);
  }
}

}  // namespace tilenet
