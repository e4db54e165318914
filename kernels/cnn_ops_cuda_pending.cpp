// Placeholder CUDA launchers for pooling, softmax, batch norm and dropout while their kernels are
// being written: each throws DeviceError, so CUDA tensors fail loudly and the CPU path is usable.
// Removed when kernels/{pool2d,softmax,batchnorm,dropout}.cu land.
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/pool2d.h"
#include "kernels/softmax.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {
[[noreturn]] void pending(const char* op) {
  throw DeviceError(detail::make_message(op, ": the CUDA kernel is not built yet; use CPU tensors"));
}
}  // namespace

#define P(T)                                                                                                        \
  void max_pool2d_forward(const Pool2dShape&, const T*, T*, std::int32_t*, cudaStream_t) { pending("max_pool2d_forward"); } \
  void max_pool2d_backward(const Pool2dShape&, const T*, const std::int32_t*, T*, cudaStream_t) {                  \
    pending("max_pool2d_backward");                                                                                 \
  }                                                                                                                 \
  void avg_pool2d_forward(const Pool2dShape&, const T*, T*, cudaStream_t) { pending("avg_pool2d_forward"); }         \
  void avg_pool2d_backward(const Pool2dShape&, const T*, T*, cudaStream_t) { pending("avg_pool2d_backward"); }      \
  void global_avg_pool_forward(const T*, T*, std::int64_t, std::int64_t, std::int64_t, cudaStream_t) {              \
    pending("global_avg_pool_forward");                                                                             \
  }                                                                                                                 \
  void global_avg_pool_backward(const T*, T*, std::int64_t, std::int64_t, std::int64_t, cudaStream_t) {             \
    pending("global_avg_pool_backward");                                                                            \
  }                                                                                                                 \
  void softmax_forward(const T*, T*, std::int64_t, std::int64_t, bool, cudaStream_t) { pending("softmax_forward"); } \
  void softmax_backward(const T*, const T*, T*, std::int64_t, std::int64_t, bool, cudaStream_t) {                   \
    pending("softmax_backward");                                                                                    \
  }                                                                                                                 \
  void softmax_cross_entropy(const T*, const std::int32_t*, float*, T*, std::int64_t, std::int64_t, float,          \
                             cudaStream_t) {                                                                        \
    pending("softmax_cross_entropy");                                                                               \
  }                                                                                                                 \
  void softmax_cross_entropy_soft(const T*, const float*, float*, T*, std::int64_t, std::int64_t, float,            \
                                  cudaStream_t) {                                                                   \
    pending("softmax_cross_entropy_soft");                                                                          \
  }                                                                                                                 \
  void batchnorm_forward_train(const T*, const float*, const float*, float*, float*, T*, float*, float*,            \
                               std::int64_t, std::int64_t, float, float, void*, cudaStream_t) {                     \
    pending("batchnorm_forward_train");                                                                             \
  }                                                                                                                 \
  void batchnorm_forward_infer(const T*, const float*, const float*, const float*, const float*, T*, std::int64_t,   \
                               std::int64_t, float, cudaStream_t) {                                                 \
    pending("batchnorm_forward_infer");                                                                             \
  }                                                                                                                 \
  void batchnorm_backward(const T*, const T*, const float*, const float*, const float*, T*, float*, float*,         \
                          std::int64_t, std::int64_t, bool, void*, cudaStream_t) {                                  \
    pending("batchnorm_backward");                                                                                  \
  }                                                                                                                 \
  void dropout(const T*, T*, std::int64_t, float, std::uint64_t, std::uint64_t, cudaStream_t) { pending("dropout"); }

P(float)
P(half)
#undef P

std::size_t batchnorm_workspace_bytes(std::int64_t, std::int64_t) { return 0; }

}  // namespace tilenet::kernels
