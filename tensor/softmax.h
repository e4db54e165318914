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
//   losses[i] = -log softmax(logits[i])[labels[i]]            (f32 [N])
//   dlogits   = (softmax(logits) - onehot(labels)) * grad_scale (logits' dtype; skipped if undefined)
// Stable for large logits (max subtracted). A label outside [0, C) throws ValueError on the CPU;
// on the GPU it yields a NaN loss for that row (checked without a host sync).
void softmax_cross_entropy_into(const Tensor& logits, const Tensor& labels, Tensor& losses, Tensor& dlogits,
                                float grad_scale);
// The same with probability targets [N, C] (f32): losses[i] = -sum_c t[i,c] * log softmax(logits[i])[c],
// dlogits = (softmax(logits) * sum_c t[i,c] - t) * grad_scale.
void softmax_cross_entropy_soft_into(const Tensor& logits, const Tensor& targets, Tensor& losses,
                                     Tensor& dlogits, float grad_scale);

}  // namespace tilenet
