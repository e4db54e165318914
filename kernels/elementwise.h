// Elementwise kernels: fill, cast, scale, axpy, binary ops, bias broadcast, ReLU. Each is available
// for float and half storage (half computes in float), as a CUDA launcher and as a CPU reference
// (`*_ref`). Pointers are device pointers for the launchers, host pointers for the references.
// Any alignment is accepted: 16-byte aligned operands take the vectorised path.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

enum class BinaryOp { add, sub, mul, div };
const char* binary_op_name(BinaryOp op);

// --- CUDA launchers (queue on `stream`, throw tilenet::Error on bad arguments or launch failure)
void fill(float* y, std::int64_t n, float value, cudaStream_t stream);
void fill(half* y, std::int64_t n, float value, cudaStream_t stream);
void cast(const float* x, half* y, std::int64_t n, cudaStream_t stream);  // round to nearest even
void cast(const half* x, float* y, std::int64_t n, cudaStream_t stream);
// y = alpha * x (y may alias x)
void scale(const float* x, float* y, std::int64_t n, float alpha, cudaStream_t stream);
void scale(const half* x, half* y, std::int64_t n, float alpha, cudaStream_t stream);
// y += alpha * x
void axpy(float alpha, const float* x, float* y, std::int64_t n, cudaStream_t stream);
void axpy(float alpha, const half* x, half* y, std::int64_t n, cudaStream_t stream);
// out = a op b, all n elements (out may alias a or b)
void binary(BinaryOp op, const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream);
void binary(BinaryOp op, const half* a, const half* b, half* out, std::int64_t n, cudaStream_t stream);
// out[r, c] = x[r, c] + bias[c]   x, out: [rows, cols]  bias: [cols]
void add_bias(const float* x, const float* bias, float* out, std::int64_t rows, std::int64_t cols,
              cudaStream_t stream);
void add_bias(const half* x, const half* bias, half* out, std::int64_t rows, std::int64_t cols,
              cudaStream_t stream);
// y = max(x, 0)
void relu(const float* x, float* y, std::int64_t n, cudaStream_t stream);
void relu(const half* x, half* y, std::int64_t n, cudaStream_t stream);
// dx = dy where x > 0, else 0 (x may be the forward input or output: same sign pattern)
void relu_backward(const float* dy, const float* x, float* dx, std::int64_t n, cudaStream_t stream);
void relu_backward(const half* dy, const half* x, half* dx, std::int64_t n, cudaStream_t stream);

// --- CPU references (same semantics)
void fill_ref(float* y, std::int64_t n, float value);
void fill_ref(half* y, std::int64_t n, float value);
void cast_ref(const float* x, half* y, std::int64_t n);
void cast_ref(const half* x, float* y, std::int64_t n);
void scale_ref(const float* x, float* y, std::int64_t n, float alpha);
void scale_ref(const half* x, half* y, std::int64_t n, float alpha);
void axpy_ref(float alpha, const float* x, float* y, std::int64_t n);
void axpy_ref(float alpha, const half* x, half* y, std::int64_t n);
void binary_ref(BinaryOp op, const float* a, const float* b, float* out, std::int64_t n);
void binary_ref(BinaryOp op, const half* a, const half* b, half* out, std::int64_t n);
void add_bias_ref(const float* x, const float* bias, float* out, std::int64_t rows, std::int64_t cols);
void add_bias_ref(const half* x, const half* bias, half* out, std::int64_t rows, std::int64_t cols);
void relu_ref(const float* x, float* y, std::int64_t n);
void relu_ref(const half* x, half* y, std::int64_t n);
void relu_backward_ref(const float* dy, const float* x, float* dx, std::int64_t n);
void relu_backward_ref(const half* dy, const half* x, half* dx, std::int64_t n);

}  // namespace tilenet::kernels
