// Softmax, log-softmax and fused softmax cross-entropy over the last dimension
// (kernels/softmax.h underneath). Inputs f32 or f16; statistics in f32.
#pragma once

#include "tensor/tensor.h"

namespace tilenet {

void softmax_into(const Tensor& x, Tensor& y);
// dx = y * (dy - sum(dy * y)) with y the softmax output.
void softmax_backward_into(const Tensor& y, const Tensor& dy, Tensor& dx);
void log_softmax_into(const Tensor& x, Tensor& y);
// dx = dy - exp(y) * sum(dy) with y the log-softmax output.
void log_softmax_backward_into(const Tensor& y, const Tensor& dy, Tensor& dx);

// From logits [N, C] and integer labels (i32 [N], each in [0, C)):
//   losses[i] = -log softmax(logits[i])[labels[i]]       (f32 [N])
//   dlogits   = (softmax(logits) - onehot(labels)) * s   (logits' dtype; skipped if undefined)
// with s = grad_scale * loss_scale[0] when loss_scale (f32 [1] on the logits' device, e.g.
// optim::LossScaler::scale()) is defined, else grad_scale. The loss scale multiplies before the
// gradient is rounded to f16, and on CUDA the kernel reads it from device memory (no host sync, so
// a captured CUDA graph follows its changes).
// Stable for large logits (max subtracted). A label outside [0, C) throws ValueError on the CPU;
// on the GPU it yields a NaN loss for that row (checked without a host sync).
void softmax_cross_entropy_into(const Tensor& logits, const Tensor& labels, Tensor& losses, Tensor& dlogits,
                                float grad_scale, const Tensor& loss_scale = Tensor());
// The same with probability targets [N, C] (f32): losses[i] = -sum_c t[i,c] * log softmax(logits[i])[c],
// dlogits = (softmax(logits) * sum_c t[i,c] - t) * s.
void softmax_cross_entropy_soft_into(const Tensor& logits, const Tensor& targets, Tensor& losses,
                                     Tensor& dlogits, float grad_scale, const Tensor& loss_scale = Tensor());

}  // namespace tilenet
