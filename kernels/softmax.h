// Softmax, log-softmax and fused softmax cross-entropy over the last dimension of a row-major
// [rows, cols] array. Host-only header. float or half storage, statistics in float (references:
// double). The row maximum is found online with the normaliser (Milakov & Gimelshein 2018):
// (m, s) pairs merge as m = max(m1, m2), s = s1 e^(m1-m) + s2 e^(m2-m), so large logits (1e4)
// never overflow and a row is read from memory once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

// --- CUDA launchers (device pointers; queued on `stream`). Outputs may not alias inputs.
// y = softmax(x) or log_softmax(x) per row.   x, y: [rows, cols]
void softmax_forward(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log, cudaStream_t stream);
void softmax_forward(const half* x, half* y, std::int64_t rows, std::int64_t cols, bool log, cudaStream_t stream);
// From the forward output y: softmax: dx = y * (dy - sum(dy * y)); log: dx = dy - exp(y) * sum(dy).
void softmax_backward(const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t cols, bool log,
                      cudaStream_t stream);
void softmax_backward(const half* y, const half* dy, half* dx, std::int64_t rows, std::int64_t cols, bool log,
                      cudaStream_t stream);
// Integer labels [rows] in [0, cols): losses[i] = -log softmax(logits[i])[labels[i]] (f32 [rows]);
// dlogits = (softmax(logits) - onehot(labels)) * scale, skipped when null, where
// scale = grad_scale * *grad_scale_device (f32 [1] in device memory, read by the kernel; null: 1).
// The device factor is the mixed-precision loss scale: applied here, before the gradient is
// rounded to f16, small gradients do not underflow; read on the device, it needs no host sync and
// a captured CUDA graph follows its changes. A label outside [0, cols) gives a NaN loss and a NaN
// gradient row (checking on the host would cost a sync; the CPU reference throws instead).
void softmax_cross_entropy(const float* logits, const std::int32_t* labels, float* losses, float* dlogits,
                           std::int64_t rows, std::int64_t cols, float grad_scale, const float* grad_scale_device,
                           cudaStream_t stream);
void softmax_cross_entropy(const half* logits, const std::int32_t* labels, float* losses, half* dlogits,
                           std::int64_t rows, std::int64_t cols, float grad_scale, const float* grad_scale_device,
                           cudaStream_t stream);
// Probability targets [rows, cols] (f32): losses[i] = -sum_c t[i,c] * log_softmax(logits[i])[c],
// dlogits = (softmax(logits) * sum_c t[i,c] - t) * scale, skipped when null (scale as above).
void softmax_cross_entropy_soft(const float* logits, const float* targets, float* losses, float* dlogits,
                                std::int64_t rows, std::int64_t cols, float grad_scale,
                                const float* grad_scale_device, cudaStream_t stream);
void softmax_cross_entropy_soft(const half* logits, const float* targets, float* losses, half* dlogits,
                                std::int64_t rows, std::int64_t cols, float grad_scale,
                                const float* grad_scale_device, cudaStream_t stream);

// --- CPU references (host pointers; same semantics, double arithmetic). The double overloads
// serve gradient checks. The references throw ValueError for a label outside [0, cols).
// grad_scale_factor: the host-side counterpart of grad_scale_device (null: 1); the gradient scale
// is the product grad_scale * *grad_scale_factor formed in the scale's type, as the kernels do.
void softmax_forward_ref(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log);
void softmax_forward_ref(const half* x, half* y, std::int64_t rows, std::int64_t cols, bool log);
void softmax_forward_ref(const double* x, double* y, std::int64_t rows, std::int64_t cols, bool log);
void softmax_backward_ref(const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t cols, bool log);
void softmax_backward_ref(const half* y, const half* dy, half* dx, std::int64_t rows, std::int64_t cols, bool log);
void softmax_backward_ref(const double* y, const double* dy, double* dx, std::int64_t rows, std::int64_t cols,
                          bool log);
void softmax_cross_entropy_ref(const float* logits, const std::int32_t* labels, float* losses, float* dlogits,
                               std::int64_t rows, std::int64_t cols, float grad_scale,
                               const float* grad_scale_factor = nullptr);
void softmax_cross_entropy_ref(const half* logits, const std::int32_t* labels, float* losses, half* dlogits,
                               std::int64_t rows, std::int64_t cols, float grad_scale,
                               const float* grad_scale_factor = nullptr);
void softmax_cross_entropy_ref(const double* logits, const std::int32_t* labels, double* losses, double* dlogits,
                               std::int64_t rows, std::int64_t cols, double grad_scale,
                               const double* grad_scale_factor = nullptr);
void softmax_cross_entropy_soft_ref(const float* logits, const float* targets, float* losses, float* dlogits,
                                    std::int64_t rows, std::int64_t cols, float grad_scale,
                                    const float* grad_scale_factor = nullptr);
void softmax_cross_entropy_soft_ref(const half* logits, const float* targets, float* losses, half* dlogits,
                                    std::int64_t rows, std::int64_t cols, float grad_scale,
                                    const float* grad_scale_factor = nullptr);
void softmax_cross_entropy_soft_ref(const double* logits, const double* targets, double* losses, double* dlogits,
                                    std::int64_t rows, std::int64_t cols, double grad_scale,
                                    const double* grad_scale_factor = nullptr);

}  // namespace tilenet::kernels
