// Pooling on Tensors: argument checks naming the op, then cuda -> kernels/pool2d.cu,
// cpu -> kernels/pool2d_ref.cpp.
#include "tensor/pool.h"

#include "kernels/pool2d.h"
#include "tensor/op_util.h"

namespace tilenet {
namespace {

using detail::by_dtype;
using detail::check_float;
using detail::check_matches;
using detail::check_shape;
using detail::stream_of;

void check_indices(const Tensor& idx, const Tensor& like, const char* op) {
  TILENET_CHECK(idx.dtype() == DType::i32, DtypeError, op, ": indices must be i32, got ", dtype_name(idx.dtype()));
  check_same_device(idx, like, op);
  TILENET_CHECK(idx.shape() == like.shape(), ShapeError, op, ": indices have shape ", idx.shape().str(),
                ", expected ", like.shape().str());
}

kernels::Pool2dShape pool_shape(const Shape& x, const Pool2dOptions& opt, const char* op) {
  detail::check_4d_extents(x, op, "input", "[N, H, W, C]");
  kernels::Pool2dShape sh;
  sh.n = static_cast<int>(x[0]);
  sh.h = static_cast<int>(x[1]);
  sh.w = static_cast<int>(x[2]);
  sh.c = static_cast<int>(x[3]);
  sh.r = opt.kernel_h;
  sh.s = opt.kernel_w;
  sh.stride_h = opt.stride_h;
  sh.stride_w = opt.stride_w;
  sh.pad_top = opt.pad_top;
  sh.pad_left = opt.pad_left;
  sh.pad_bottom = opt.pad_bottom;
  sh.pad_right = opt.pad_right;
  kernels::check_pool2d_shape(sh, op);
  return sh;
}

Shape out_shape(const kernels::Pool2dShape& sh) { return Shape{sh.n, sh.p(), sh.q(), sh.c}; }

}  // namespace

Shape pool2d_output_shape(const Shape& x, const Pool2dOptions& opt) {
  return out_shape(pool_shape(x, opt, "pool2d"));
}

void max_pool2d_forward_into(const Tensor& x, Tensor& out, Tensor& indices, const Pool2dOptions& opt) {
  const char* op = "max_pool2d_forward";
  check_float(x, op, "x");
  check_matches(x, out, op, "out");
  const kernels::Pool2dShape sh = pool_shape(x.shape(), opt, op);
  check_shape(out, out_shape(sh), op, "out");
  if (indices.defined()) check_indices(indices, out, op);
  std::int32_t* idx = indices.defined() ? indices.data<std::int32_t>() : nullptr;
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::max_pool2d_forward(sh, x.data<T>(), out.data<T>(), idx, stream_of(x));
    else
      kernels::max_pool2d_forward_ref(sh, x.data<T>(), out.data<T>(), idx);
  });
}

void max_pool2d_backward_into(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dOptions& opt) {
  const char* op = "max_pool2d_backward";
  check_float(dy, op, "dy");
  check_defined(indices, op, "indices");
  check_matches(dy, dx, op, "dx");
  const kernels::Pool2dShape sh = pool_shape(dx.shape(), opt, op);
  check_shape(dy, out_shape(sh), op, "dy");
  check_indices(indices, dy, op);
  by_dtype(dy, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (dy.is_cuda())
      kernels::max_pool2d_backward(sh, dy.data<T>(), indices.data<std::int32_t>(), dx.data<T>(), stream_of(dy));
    else
      kernels::max_pool2d_backward_ref(sh, dy.data<T>(), indices.data<std::int32_t>(), dx.data<T>());
  });
}

void avg_pool2d_forward_into(const Tensor& x, Tensor& out, const Pool2dOptions& opt) {
  const char* op = "avg_pool2d_forward";
  check_float(x, op, "x");
  check_matches(x, out, op, "out");
  const kernels::Pool2dShape sh = pool_shape(x.shape(), opt, op);
  check_shape(out, out_shape(sh), op, "out");
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::avg_pool2d_forward(sh, x.data<T>(), out.data<T>(), stream_of(x));
    else
      kernels::avg_pool2d_forward_ref(sh, x.data<T>(), out.data<T>());
  });
}

void avg_pool2d_backward_into(const Tensor& dy, Tensor& dx, const Pool2dOptions& opt) {
  const char* op = "avg_pool2d_backward";
  check_float(dy, op, "dy");
  check_matches(dy, dx, op, "dx");
  const kernels::Pool2dShape sh = pool_shape(dx.shape(), opt, op);
  check_shape(dy, out_shape(sh), op, "dy");
  by_dtype(dy, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (dy.is_cuda())
      kernels::avg_pool2d_backward(sh, dy.data<T>(), dx.data<T>(), stream_of(dy));
    else
      kernels::avg_pool2d_backward_ref(sh, dy.data<T>(), dx.data<T>());
  });
}

void global_avg_pool_forward_into(const Tensor& x, Tensor& out) {
  const char* op = "global_avg_pool_forward";
  check_float(x, op, "x");
  check_matches(x, out, op, "out");
  TILENET_CHECK(x.ndim() == 4 && x.numel() > 0, ShapeError, op, ": x has shape ", x.shape().str(),
                ", expected non-empty 4-D [N, H, W, C]");
  check_shape(out, Shape{x.dim(0), x.dim(3)}, op, "out");
  const std::int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::global_avg_pool_forward(x.data<T>(), out.data<T>(), n, hw, c, stream_of(x));
    else
      kernels::global_avg_pool_forward_ref(x.data<T>(), out.data<T>(), n, hw, c);
  });
}

void global_avg_pool_backward_into(const Tensor& dy, Tensor& dx) {
  const char* op = "global_avg_pool_backward";
  check_float(dy, op, "dy");
  check_matches(dy, dx, op, "dx");
  TILENET_CHECK(dx.ndim() == 4 && dx.numel() > 0, ShapeError, op, ": dx has shape ", dx.shape().str(),
                ", expected non-empty 4-D [N, H, W, C]");
  check_shape(dy, Shape{dx.dim(0), dx.dim(3)}, op, "dy");
  const std::int64_t n = dx.dim(0), hw = dx.dim(1) * dx.dim(2), c = dx.dim(3);
  by_dtype(dy, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (dy.is_cuda())
      kernels::global_avg_pool_backward(dy.data<T>(), dx.data<T>(), n, hw, c, stream_of(dy));
    else
      kernels::global_avg_pool_backward_ref(dy.data<T>(), dx.data<T>(), n, hw, c);
  });
}

}  // namespace tilenet
