// Batch normalisation over the last dimension (channels of NHWC, features of [N, F]), and dropout
// (kernels/batchnorm.h, kernels/dropout.h underneath).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace tilenet {

// Training: per channel c, mean and biased variance over every other dimension;
// y = gamma * (x - mean) / sqrt(var + eps) + beta. Running statistics (f32 [C]) become
// momentum * running + (1 - momentum) * batch (Keras convention, momentum 0.99; running_var takes
// the unbiased batch variance). save_mean and save_invstd (f32 [C]) keep what backward needs.
// x, y: f32 or f16; gamma, beta: f32 [C].
// `workspace` (training forward and backward): a CUDA tensor of at least batchnorm_workspace_size(x)
// bytes, 256-byte aligned, makes the call allocate nothing; without one each CUDA call takes a block
// from the caching allocator.
void batchnorm_forward_train_into(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                  Tensor& running_var, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                  float momentum, float eps, const Tensor& workspace = Tensor());
// Device workspace bytes the CUDA training forward and backward need for x (0 for a CPU x).
std::size_t batchnorm_workspace_size(const Tensor& x);
// Inference: normalises with the running statistics.
void batchnorm_forward_infer_into(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var, Tensor& y, float eps);
// dx overwritten; dgamma, dbeta (f32 [C]) overwritten or added to when accumulate.
void batchnorm_backward_into(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                             const Tensor& save_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta, bool accumulate,
                             const Tensor& workspace = Tensor());

// Inverted dropout: y = x * mask / (1 - rate), mask[i] = philox_uniform(seed, offset + i) >= rate.
// Backward regenerates the same mask from (seed, offset): nothing is stored.
void dropout_forward_into(const Tensor& x, Tensor& y, float rate, std::uint64_t seed, std::uint64_t offset);
void dropout_backward_into(const Tensor& dy, Tensor& dx, float rate, std::uint64_t seed, std::uint64_t offset);

// Local response normalisation across channels (the last dimension), the original AlexNet's
// (kernels/lrn.h): y_c = x_c / (k + alpha / size * sum of x^2 over the `size` channels centred on
// c)^beta. Backward recomputes what it needs from x.
struct LrnOptions {
  int size = 5;
  float alpha = 1e-4f, beta = 0.75f, k = 2.0f;
};
void lrn_forward_into(const Tensor& x, Tensor& y, const LrnOptions& opt = {});
void lrn_backward_into(const Tensor& x, const Tensor& dy, Tensor& dx, const LrnOptions& opt = {});

}  // namespace tilenet
