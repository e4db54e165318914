// Batch normalisation over the last dimension of a row-major [rows, channels] array (NHWC
// activations with rows = N*H*W, or [N, F] features). Host-only header. x, y, dy, dx: float or
// half storage; gamma, beta, statistics and parameter gradients: float. Arithmetic in float
// (references: double).
//
// Training forward: per channel, mean and biased variance over the rows; y = gamma * xhat + beta
// with xhat = (x - mean) * invstd, invstd = 1 / sqrt(var + eps); running statistics become
// momentum * running + (1 - momentum) * batch, running_var taking the unbiased variance
// (var * rows / (rows - 1); the biased one when rows == 1). save_mean / save_invstd keep what
// backward needs.
// Backward: dbeta = sum(dy), dgamma = sum(dy * xhat),
//           dx = gamma * invstd * (dy - dbeta / rows - xhat * dgamma / rows).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

// --- CUDA launchers (device pointers; queued on `stream`). Each reduces in a deterministic order
// (per-thread partials, then fixed-order merges): the same inputs give the same bits.
// Device bytes of scratch the training forward / backward need for this shape (0 is possible).
std::size_t batchnorm_workspace_bytes(std::int64_t rows, std::int64_t channels);

void batchnorm_forward_train(const float* x, const float* gamma, const float* beta, float* running_mean,
                             float* running_var, float* y, float* save_mean, float* save_invstd, std::int64_t rows,
                             std::int64_t channels, float momentum, float eps, void* workspace, cudaStream_t stream);
void batchnorm_forward_train(const half* x, const float* gamma, const float* beta, float* running_mean,
                             float* running_var, half* y, float* save_mean, float* save_invstd, std::int64_t rows,
                             std::int64_t channels, float momentum, float eps, void* workspace, cudaStream_t stream);
// y = gamma * (x - mean) / sqrt(var + eps) + beta with the given (running) statistics.
void batchnorm_forward_infer(const float* x, const float* gamma, const float* beta, const float* mean,
                             const float* var, float* y, std::int64_t rows, std::int64_t channels, float eps,
                             cudaStream_t stream);
void batchnorm_forward_infer(const half* x, const float* gamma, const float* beta, const float* mean,
                             const float* var, half* y, std::int64_t rows, std::int64_t channels, float eps,
                             cudaStream_t stream);
// dx overwritten; dgamma, dbeta [channels] overwritten, or added to when `accumulate`.
void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* save_mean,
                        const float* save_invstd, float* dx, float* dgamma, float* dbeta, std::int64_t rows,
                        std::int64_t channels, bool accumulate, void* workspace, cudaStream_t stream);
void batchnorm_backward(const half* dy, const half* x, const float* gamma, const float* save_mean,
                        const float* save_invstd, half* dx, float* dgamma, float* dbeta, std::int64_t rows,
                        std::int64_t channels, bool accumulate, void* workspace, cudaStream_t stream);

// --- CPU references (host pointers; same semantics; two passes in double). The double overloads
// serve gradient checks.
void batchnorm_forward_train_ref(const float* x, const float* gamma, const float* beta, float* running_mean,
                                 float* running_var, float* y, float* save_mean, float* save_invstd, std::int64_t rows,
                                 std::int64_t channels, float momentum, float eps);
void batchnorm_forward_train_ref(const half* x, const float* gamma, const float* beta, float* running_mean,
                                 float* running_var, half* y, float* save_mean, float* save_invstd, std::int64_t rows,
                                 std::int64_t channels, float momentum, float eps);
void batchnorm_forward_train_ref(const double* x, const double* gamma, const double* beta, double* running_mean,
                                 double* running_var, double* y, double* save_mean, double* save_invstd,
                                 std::int64_t rows, std::int64_t channels, double momentum, double eps);
void batchnorm_forward_infer_ref(const float* x, const float* gamma, const float* beta, const float* mean,
                                 const float* var, float* y, std::int64_t rows, std::int64_t channels, float eps);
void batchnorm_forward_infer_ref(const half* x, const float* gamma, const float* beta, const float* mean,
                                 const float* var, half* y, std::int64_t rows, std::int64_t channels, float eps);
void batchnorm_forward_infer_ref(const double* x, const double* gamma, const double* beta, const double* mean,
                                 const double* var, double* y, std::int64_t rows, std::int64_t channels, double eps);
void batchnorm_backward_ref(const float* dy, const float* x, const float* gamma, const float* save_mean,
                            const float* save_invstd, float* dx, float* dgamma, float* dbeta, std::int64_t rows,
                            std::int64_t channels, bool accumulate);
void batchnorm_backward_ref(const half* dy, const half* x, const float* gamma, const float* save_mean,
                            const float* save_invstd, half* dx, float* dgamma, float* dbeta, std::int64_t rows,
                            std::int64_t channels, bool accumulate);
void batchnorm_backward_ref(const double* dy, const double* x, const double* gamma, const double* save_mean,
                            const double* save_invstd, double* dx, double* dgamma, double* dbeta, std::int64_t rows,
                            std::int64_t channels, bool accumulate);

}  // namespace tilenet::kernels
