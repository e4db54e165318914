// CPU reference of kernels/gemm.h: the test oracle. Plain loops with double accumulation; the
// loop order only follows B's layout so the oracle stays quick enough for the large test shapes.
// The epilogue is evaluated in double and rounded once to the output type.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/gemm_internal.h"
#include "kernels/ref_util.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {
namespace {

using ref::ld;
using ref::st;

template <typename TI, typename TO>
void gemm_ref_t(const GemmParams& in, const TI* a, const TI* b, TO* c) {
  const GemmParams p = resolve_gemm_params(in, a, b, c, "gemm_ref");
  if (p.m == 0 || p.n == 0) return;
  for (int bt = 0; bt < p.batch; ++bt) {
    const TI* A = a ? a + bt * p.stride_a : nullptr;
    const TI* B = b ? b + bt * p.stride_b : nullptr;
    TO* C = c + bt * p.stride_c;
    const auto Aat = [&](std::int64_t i, std::int64_t q) { return ld(p.trans_a ? A[q * p.lda + i] : A[i * p.lda + q]); };
    parallel_for(0, p.m, 1, [&](std::int64_t i0, std::int64_t i1) {
      std::vector<double> acc(static_cast<std::size_t>(p.n));
      for (std::int64_t i = i0; i < i1; ++i) {
        std::fill(acc.begin(), acc.end(), 0.0);
        if (p.trans_b) {  // B is n x k: dot products along contiguous rows
          for (std::int64_t j = 0; j < p.n; ++j) {
            double s = 0.0;
            for (std::int64_t q = 0; q < p.k; ++q) s += Aat(i, q) * ld(B[j * p.ldb + q]);
            acc[j] = s;
          }
        } else {  // B is k x n: rank-1 updates along contiguous rows
          for (std::int64_t q = 0; q < p.k; ++q) {
            const double av = Aat(i, q);
            const TI* brow = B + q * p.ldb;
            for (std::int64_t j = 0; j < p.n; ++j) acc[j] += av * ld(brow[j]);
          }
        }
        TO* crow = C + i * p.ldc;
        for (std::int64_t j = 0; j < p.n; ++j) {
          double v = static_cast<double>(p.alpha) * acc[j];
          if (p.beta != 0.0f) v += static_cast<double>(p.beta) * ld(crow[j]);
          if (p.bias) v += p.bias[j];
          if (p.act == Activation::relu && v < 0.0) v = 0.0;  // NaN stays NaN
          crow[j] = st<TO>(v);
        }
      }
    });
  }
}

template <typename T>
void column_sums_ref_t(const T* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate) {
  TILENET_CHECK(rows >= 0 && cols >= 0, ValueError, "column_sums_ref: negative size (rows=", rows, " cols=", cols, ")");
  if (cols == 0) return;
  TILENET_CHECK(db != nullptr && (rows == 0 || dy != nullptr), ValueError, "column_sums_ref: null pointer");
  std::vector<double> acc(static_cast<std::size_t>(cols), 0.0);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) acc[j] += ld(dy[i * cols + j]);
  for (std::int64_t j = 0; j < cols; ++j) db[j] = static_cast<float>(acc[j] + (accumulate ? db[j] : 0.0));
}

}  // namespace

void gemm_ref(const GemmParams& p, const float* a, const float* b, float* c) { gemm_ref_t(p, a, b, c); }
void gemm_ref(const GemmParams& p, const half* a, const half* b, float* c) { gemm_ref_t(p, a, b, c); }
void gemm_ref(const GemmParams& p, const half* a, const half* b, half* c) { gemm_ref_t(p, a, b, c); }

void column_sums_ref(const float* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate) {
  column_sums_ref_t(dy, rows, cols, db, accumulate);
}
void column_sums_ref(const half* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate) {
  column_sums_ref_t(dy, rows, cols, db, accumulate);
}

}  // namespace tilenet::kernels
