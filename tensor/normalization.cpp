// Batch normalisation and dropout on Tensors: argument checks naming the op, then
// cuda -> kernels/batchnorm.cu, kernels/dropout.cu; cpu -> the *_ref.cpp references.
#include "tensor/normalization.h"

#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/launch.h"
#include "kernels/lrn.h"
#include "tensor/memory.h"
#include "tensor/op_util.h"

namespace tilenet {
namespace {

using detail::by_dtype;
using detail::check_float;
using detail::check_like;
using detail::check_shape;
using detail::stream_of;


// A per-channel parameter or statistic: f32 [C] on x's device.
void check_channel(const Tensor& t, const Tensor& x, std::int64_t channels, const char* op, const char* name) {
  check_defined(t, op, name);
  check_same_device(x, t, op);
  TILENET_CHECK(t.dtype() == DType::f32, DtypeError, op, ": ", name, " must be f32, got ", dtype_name(t.dtype()));
  TILENET_CHECK(t.shape() == Shape{channels}, ShapeError, op, ": ", name, " has shape ", t.shape().str(),
                ", expected (", channels, ",) for x ", x.shape().str());
}

// rows x channels of x: channels is the last dimension.
void bn_dims(const Tensor& x, const char* op, std::int64_t& rows, std::int64_t& channels) {
  TILENET_CHECK(x.ndim() >= 2 && x.numel() > 0, ShapeError, op, ": x has shape ", x.shape().str(),
                ", expected non-empty [N, ..., C] (at least 2-D, channels last)");
  channels = x.shape().cols();
  rows = x.shape().rows();
}

void check_eps(float eps, const char* op) {
  TILENET_CHECK(eps > 0.0f && std::isfinite(eps), ValueError, op, ": eps must be positive, got ", eps);
}

// Device scratch for a CUDA batch-norm reduction: the caller's `given` when it is large enough and
// aligned, else a block from the caching allocator held by `owned`.
void* bn_workspace(const Tensor& x, std::int64_t rows, std::int64_t channels, const Tensor& given,
                   DeviceBuffer& owned) {
  const std::size_t need = kernels::batchnorm_workspace_bytes(rows, channels);
  if (given.defined() && given.device() == x.device() && given.nbytes() >= need &&
      kernels::is_aligned(given.raw_data(), 256))
    return given.raw_data();
  owned = DeviceBuffer(need, x.device().index, stream_of(x));
  return owned.data();
}

}  // namespace

std::size_t batchnorm_workspace_size(const Tensor& x) {
  if (!x.defined() || !x.is_cuda() || x.ndim() < 2 || x.numel() == 0) return 0;
  return kernels::batchnorm_workspace_bytes(x.shape().rows(), x.shape().cols());
}

void batchnorm_forward_train_into(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                  Tensor& running_var, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                  float momentum, float eps, const Tensor& workspace) {
  const char* op = "batchnorm_forward_train";
  check_float(x, op, "x");
  check_like(x, y, op, "y");
  std::int64_t rows, channels;
  bn_dims(x, op, rows, channels);
  check_channel(gamma, x, channels, op, "gamma");
  check_channel(beta, x, channels, op, "beta");
  check_channel(running_mean, x, channels, op, "running_mean");
  check_channel(running_var, x, channels, op, "running_var");
  check_channel(save_mean, x, channels, op, "save_mean");
  check_channel(save_invstd, x, channels, op, "save_invstd");
  TILENET_CHECK(momentum >= 0.0f && momentum <= 1.0f, ValueError, op, ": momentum must be in [0, 1], got ", momentum);
  check_eps(eps, op);
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda()) {
      cudaStream_t s = stream_of(x);
      DeviceBuffer owned;
      void* ws = bn_workspace(x, rows, channels, workspace, owned);
      kernels::batchnorm_forward_train(x.data<T>(), gamma.data<float>(), beta.data<float>(),
                                       running_mean.data<float>(), running_var.data<float>(), y.data<T>(),
                                       save_mean.data<float>(), save_invstd.data<float>(), rows, channels, momentum,
                                       eps, ws, s);
    } else {
      kernels::batchnorm_forward_train_ref(x.data<T>(), gamma.data<float>(), beta.data<float>(),
                                           running_mean.data<float>(), running_var.data<float>(), y.data<T>(),
                                           save_mean.data<float>(), save_invstd.data<float>(), rows, channels,
                                           momentum, eps);
    }
  });
}

void batchnorm_forward_infer_into(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var, Tensor& y, float eps) {
  const char* op = "batchnorm_forward_infer";
  check_float(x, op, "x");
  check_like(x, y, op, "y");
  std::int64_t rows, channels;
  bn_dims(x, op, rows, channels);
  check_channel(gamma, x, channels, op, "gamma");
  check_channel(beta, x, channels, op, "beta");
  check_channel(running_mean, x, channels, op, "running_mean");
  check_channel(running_var, x, channels, op, "running_var");
  check_eps(eps, op);
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::batchnorm_forward_infer(x.data<T>(), gamma.data<float>(), beta.data<float>(),
                                       running_mean.data<float>(), running_var.data<float>(), y.data<T>(), rows,
                                       channels, eps, stream_of(x));
    else
      kernels::batchnorm_forward_infer_ref(x.data<T>(), gamma.data<float>(), beta.data<float>(),
                                           running_mean.data<float>(), running_var.data<float>(), y.data<T>(), rows,
                                           channels, eps);
  });
}

void batchnorm_backward_into(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                             const Tensor& save_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta, bool accumulate,
                             const Tensor& workspace) {
  const char* op = "batchnorm_backward";
  check_float(x, op, "x");
  check_like(x, dy, op, "dy");
  check_like(x, dx, op, "dx");
  std::int64_t rows, channels;
  bn_dims(x, op, rows, channels);
  check_channel(gamma, x, channels, op, "gamma");
  check_channel(save_mean, x, channels, op, "save_mean");
  check_channel(save_invstd, x, channels, op, "save_invstd");
  check_channel(dgamma, x, channels, op, "dgamma");
  check_channel(dbeta, x, channels, op, "dbeta");
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda()) {
      cudaStream_t s = stream_of(x);
      DeviceBuffer owned;
      void* ws = bn_workspace(x, rows, channels, workspace, owned);
      kernels::batchnorm_backward(dy.data<T>(), x.data<T>(), gamma.data<float>(), save_mean.data<float>(),
                                  save_invstd.data<float>(), dx.data<T>(), dgamma.data<float>(), dbeta.data<float>(),
                                  rows, channels, accumulate, ws, s);
    } else {
      kernels::batchnorm_backward_ref(dy.data<T>(), x.data<T>(), gamma.data<float>(), save_mean.data<float>(),
                                      save_invstd.data<float>(), dx.data<T>(), dgamma.data<float>(),
                                      dbeta.data<float>(), rows, channels, accumulate);
    }
  });
}

namespace {

void dropout_into(const Tensor& x, Tensor& y, float rate, std::uint64_t seed, std::uint64_t offset, const char* op,
                  const char* xname, const char* yname) {
  check_float(x, op, xname);
  check_like(x, y, op, yname);
  kernels::check_dropout_rate(rate, op);
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::dropout(x.data<T>(), y.data<T>(), x.numel(), rate, seed, offset, stream_of(x));
    else
      kernels::dropout_ref(x.data<T>(), y.data<T>(), x.numel(), rate, seed, offset);
  });
}

}  // namespace

void dropout_forward_into(const Tensor& x, Tensor& y, float rate, std::uint64_t seed, std::uint64_t offset) {
  dropout_into(x, y, rate, seed, offset, "dropout_forward", "x", "y");
}

void dropout_backward_into(const Tensor& dy, Tensor& dx, float rate, std::uint64_t seed, std::uint64_t offset) {
  dropout_into(dy, dx, rate, seed, offset, "dropout_backward", "dy", "dx");
}

namespace {

kernels::LrnParams lrn_params(const LrnOptions& opt, const char* op) {
  kernels::LrnParams p;
  p.size = opt.size, p.alpha = opt.alpha, p.beta = opt.beta, p.k = opt.k;
  kernels::check_lrn_params(p, op);
  return p;
}

void check_lrn_input(const Tensor& x, const char* op) {
  check_float(x, op, "x");
  TILENET_CHECK(x.ndim() >= 1 && x.shape().cols() >= 1, ShapeError, op, ": x has shape ", x.shape().str(),
                ", expected [..., C] with C >= 1");
}

}  // namespace

void lrn_forward_into(const Tensor& x, Tensor& y, const LrnOptions& opt) {
  const char* op = "lrn_forward";
  check_lrn_input(x, op);
  check_like(x, y, op, "y");
  const kernels::LrnParams p = lrn_params(opt, op);
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::lrn_forward(x.data<T>(), y.data<T>(), x.shape().rows(), x.shape().cols(), p, stream_of(x));
    else
      kernels::lrn_forward_ref(x.data<T>(), y.data<T>(), x.shape().rows(), x.shape().cols(), p);
  });
}

void lrn_backward_into(const Tensor& x, const Tensor& dy, Tensor& dx, const LrnOptions& opt) {
  const char* op = "lrn_backward";
  check_lrn_input(x, op);
  check_like(x, dy, op, "dy");
  check_like(x, dx, op, "dx");
  const kernels::LrnParams p = lrn_params(opt, op);
  by_dtype(x, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (x.is_cuda())
      kernels::lrn_backward(x.data<T>(), dy.data<T>(), dx.data<T>(), x.shape().rows(), x.shape().cols(), p,
                            stream_of(x));
    else
      kernels::lrn_backward_ref(x.data<T>(), dy.data<T>(), dx.data<T>(), x.shape().rows(), x.shape().cols(), p);
  });
}

}  // namespace tilenet
