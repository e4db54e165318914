// CPU references for kernels/reduce.h. Sums accumulate in double.
#include <cmath>
#include <limits>

#include "kernels/reduce.h"

namespace tilenet::kernels {
namespace {

inline float ld(float v) { return v; }
inline float ld(half v) { return half_to_float(v); }

template <typename T>
float reduce_t(ReduceOp op, const T* x, std::int64_t n) {
  if (op == ReduceOp::sum) {
    double s = 0.0;
    for (std::int64_t i = 0; i < n; ++i) s += ld(x[i]);
    return static_cast<float>(s);
  }
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t i = 0; i < n; ++i) m = std::fmax(m, ld(x[i]));
  return m;
}

}  // namespace

float reduce_all_ref(ReduceOp op, const float* x, std::int64_t n) { return reduce_t(op, x, n); }
float reduce_all_ref(ReduceOp op, const half* x, std::int64_t n) { return reduce_t(op, x, n); }
void reduce_lastdim_ref(ReduceOp op, const float* x, std::int64_t rows, std::int64_t cols, float* out) {
  for (std::int64_t r = 0; r < rows; ++r) out[r] = reduce_t(op, x + r * cols, cols);
}
void reduce_lastdim_ref(ReduceOp op, const half* x, std::int64_t rows, std::int64_t cols, float* out) {
  for (std::int64_t r = 0; r < rows; ++r) out[r] = reduce_t(op, x + r * cols, cols);
}

}  // namespace tilenet::kernels
