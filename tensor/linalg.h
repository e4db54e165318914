// Matrix products on Tensors (kernels/gemm.h underneath): dispatch by device and dtype.
#pragma once

#include "kernels/gemm.h"
#include "tensor/tensor.h"

namespace tilenet {

using kernels::Activation;

// out = act(alpha * op(a) @ op(b) + beta * out + bias)
// a: [M, K] ([K, M] when trans_a), b: [K, N] ([N, K] when trans_b), out: [M, N]. 3-D operands
// [B, ., .] are batched over dimension 0 (all three 3-D). dtypes: f32 x f32 -> f32;
// f16 x f16 -> f16 or f32 (out's dtype decides). bias: f32 [N] or undefined.
void matmul_into(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a = false, bool trans_b = false,
                 float alpha = 1.0f, float beta = 0.0f, const Tensor& bias = Tensor(),
                 Activation act = Activation::none);
// New tensor of a's dtype.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// db (f32 [N]) = column sums of dy ([M, N], f32 or f16); += when accumulate. Deterministic on
// both devices. On CUDA, tall dy sums row splits through a device workspace of
// column_sums_workspace_size(dy.shape(), device) bytes: a CUDA tensor at least that large (16-byte
// aligned) passed as `workspace` makes the call allocate nothing (as a CUDA graph capture needs);
// without one it takes a block from the caching allocator.
std::size_t column_sums_workspace_size(const Shape& dy, Device device);
void column_sums_into(const Tensor& dy, Tensor& db, bool accumulate = false, const Tensor& workspace = Tensor());

}  // namespace tilenet
