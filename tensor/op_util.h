// Helpers shared by the Tensor-level ops (tensor/*.cpp): the current stream of a tensor's device,
// dispatch on the floating dtypes, and the argument checks every op repeats. Each check throws
// the matching error type with a message naming the op and the argument.
#pragma once

#include <climits>
#include <type_traits>

#include "tensor/stream.h"
#include "tensor/tensor.h"

namespace tilenet::detail {

inline cudaStream_t stream_of(const Tensor& t) { return cuda::current_stream(t.device().index); }

// Calls f(tag) with a typed null pointer of t's element type: float* for f32, half* for f16.
// Other dtypes (i32) throw DtypeError naming `op`; most callers check the dtype first
// (check_float), for the others this is the check.
template <typename F>
void by_dtype(const Tensor& t, const char* op, F&& f) {
  if (t.dtype() == DType::f32)
    f(static_cast<float*>(nullptr));
  else if (t.dtype() == DType::f16)
    f(static_cast<half*>(nullptr));
  else
    throw DtypeError(make_message(op, ": takes f32 or f16 tensors, got ", dtype_name(t.dtype())));
}

// t is defined and holds f32 or f16.
inline void check_float(const Tensor& t, const char* op, const char* name) {
  check_defined(t, op, name);
  TILENET_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f16, DtypeError, op, ": ", name,
                " must be f32 or f16, got ", dtype_name(t.dtype()));
}

// b is defined and on a's device with a's dtype (its shape is the op's business).
inline void check_matches(const Tensor& a, const Tensor& b, const char* op, const char* name) {
  check_defined(b, op, name);
  check_same_device(a, b, op);
  check_same_dtype(a, b, op);
}

// b is defined and matches a's device, dtype and shape.
inline void check_like(const Tensor& a, const Tensor& b, const char* op, const char* name) {
  check_matches(a, b, op, name);
  check_same_shape(a, b, op);
}

inline void check_shape(const Tensor& t, const Shape& expected, const char* op, const char* name) {
  TILENET_CHECK(t.shape() == expected, ShapeError, op, ": ", name, " has shape ", t.shape().str(), ", expected ",
                expected.str());
}

// s is 4-D (`layout` names its axes, e.g. "[N, H, W, C]") with every extent in [1, 2^31), as the
// kernels' int shape structs need. `what` names the operand ("input", "filters").
inline void check_4d_extents(const Shape& s, const char* op, const char* what, const char* layout) {
  TILENET_CHECK(s.ndim() == 4, ShapeError, op, ": ", what, " has shape ", s.str(), ", expected 4-D ", layout);
  for (int i = 0; i < 4; ++i)
    TILENET_CHECK(s[i] >= 1 && s[i] <= INT_MAX, ShapeError, op, ": ", what, " shape ", s.str(),
                  " has an extent outside [1, 2^31)");
}

}  // namespace tilenet::detail
