// Elementwise and reduction ops on Tensors. Each dispatches by device (cuda -> kernels/*.cu,
// cpu -> kernels/*_ref.cpp) and by dtype (f32, f16), checks its operands, and throws ShapeError,
// DtypeError or DeviceError naming the op. Functions returning a Tensor allocate the result;
// `*_` functions work in place; `*_into` write into a preallocated `out`.
#pragma once

#include "tensor/tensor.h"

namespace tilenet {

void fill_(Tensor& t, float value);
// t *= alpha
void scale_(Tensor& t, float alpha);
// y += alpha * x
void axpy_(float alpha, const Tensor& x, Tensor& y);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
void add_into(const Tensor& a, const Tensor& b, Tensor& out);
void mul_into(const Tensor& a, const Tensor& b, Tensor& out);

// x + bias, bias broadcast over the last dimension (bias: [x.dim(-1)]).
Tensor add_bias(const Tensor& x, const Tensor& bias);
void add_bias_into(const Tensor& x, const Tensor& bias, Tensor& out);

Tensor relu(const Tensor& x);
void relu_into(const Tensor& x, Tensor& out);
// dy where x > 0, else 0 (x: the forward input or output).
Tensor relu_backward(const Tensor& dy, const Tensor& x);
void relu_backward_into(const Tensor& dy, const Tensor& x, Tensor& dx);

// Reductions return f32 tensors on the input's device: shape {1} for whole-tensor reductions,
// the input shape without its last dimension for *_lastdim.
Tensor sum(const Tensor& x);
Tensor max(const Tensor& x);
Tensor sum_lastdim(const Tensor& x);
Tensor max_lastdim(const Tensor& x);

}  // namespace tilenet
