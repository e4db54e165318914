// GEMM test problems shared by the CPU and GPU GEMM tests: host operands with padded leading
// dimensions and batch gaps (padding holds NaN, so a read of it shows), small-integer values
// (fp32 and fp16 products and sums are then exact), the NaN-poisoned or random C, and the oracle.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "test_util.h"

namespace tilenet::test {

struct GemmCase {
  std::int64_t m = 1, n = 1, k = 1;
  bool ta = false, tb = false;
  int batch = 1;
  std::int64_t pad = 0;  // added to every leading dimension
  float alpha = 1.0f, beta = 0.0f;
  bool bias = false;
  kernels::Activation act = kernels::Activation::none;
  bool ints = true;  // small integers (exact) or uniform reals

  std::string str() const {
    std::ostringstream os;
    os << m << "x" << n << "x" << k << (ta ? " At" : "") << (tb ? " Bt" : "") << " batch=" << batch << " pad=" << pad
       << " alpha=" << alpha << " beta=" << beta << (bias ? " bias" : "")
       << (act == kernels::Activation::relu ? " relu" : "") << (ints ? " ints" : " reals");
    return os.str();
  }
};

struct GemmProblem {
  GemmCase cs;
  kernels::GemmParams p;
  std::vector<float> a, b, c, bias;  // host values; c is C before the product (NaN where beta == 0)
};

inline GemmProblem make_gemm_problem(const GemmCase& cs, std::uint64_t seed) {
  GemmProblem pr;
  pr.cs = cs;
  kernels::GemmParams& p = pr.p;
  p.m = cs.m;
  p.n = cs.n;
  p.k = cs.k;
  p.trans_a = cs.ta;
  p.trans_b = cs.tb;
  const std::int64_t ha = cs.ta ? cs.k : cs.m, wa = cs.ta ? cs.m : cs.k;
  const std::int64_t hb = cs.tb ? cs.n : cs.k, wb = cs.tb ? cs.k : cs.n;
  p.lda = wa + cs.pad;
  p.ldb = wb + cs.pad;
  p.ldc = cs.n + cs.pad;
  if (p.lda == 0) p.lda = 1;
  if (p.ldb == 0) p.ldb = 1;
  p.alpha = cs.alpha;
  p.beta = cs.beta;
  p.batch = cs.batch;
  p.act = cs.act;
  // Batch strides leave a gap of 3 elements between matrices.
  p.stride_a = ha * p.lda + 3;
  p.stride_b = hb * p.ldb + 3;
  p.stride_c = cs.m * p.ldc + 3;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto fill = [&](std::vector<float>& v, std::int64_t rows, std::int64_t cols, std::int64_t ldv,
                        std::int64_t stride, std::uint64_t s, bool poison) {
    v.assign(static_cast<std::size_t>(stride * cs.batch), nan);
    const std::vector<float> vals = cs.ints ? random_ints(static_cast<std::size_t>(rows * cols * cs.batch), -3, 3, s)
                                            : random_uniform(static_cast<std::size_t>(rows * cols * cs.batch), -1, 1, s);
    std::size_t t = 0;
    for (int bt = 0; bt < cs.batch; ++bt)
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j, ++t)
          v[static_cast<std::size_t>(bt * stride + i * ldv + j)] = poison ? nan : vals[t];
  };
  fill(pr.a, ha, wa, p.lda, p.stride_a, seed, false);
  fill(pr.b, hb, wb, p.ldb, p.stride_b, seed + 1, false);
  fill(pr.c, cs.m, cs.n, p.ldc, p.stride_c, seed + 2, cs.beta == 0.0f);
  if (cs.bias) {
    pr.bias = random_ints(static_cast<std::size_t>(cs.n), -4, 4, seed + 3);
    for (auto& x : pr.bias) x *= 0.5f;
  }
  return pr;
}

// L2 norm of the non-NaN entries (C buffers keep NaN in their padding).
inline double finite_norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v)
    if (!std::isnan(x)) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

// The oracle: gemm_ref on the problem's values, in the given input/output types, returned as floats
// (the whole C buffer, padding included: padding stays NaN).
inline std::vector<float> gemm_oracle(const GemmProblem& pr, bool half_in, bool half_out) {
  kernels::GemmParams p = pr.p;
  p.bias = pr.bias.empty() ? nullptr : pr.bias.data();
  if (!half_in) {
    std::vector<float> c = pr.c;
    kernels::gemm_ref(p, pr.a.data(), pr.b.data(), c.data());
    return c;
  }
  const std::vector<half> a = to_half(pr.a), b = to_half(pr.b);
  if (!half_out) {
    std::vector<float> c = pr.c;
    kernels::gemm_ref(p, a.data(), b.data(), c.data());
    return c;
  }
  std::vector<half> c = to_half(pr.c);
  kernels::gemm_ref(p, a.data(), b.data(), c.data());
  return to_float(c);
}

}  // namespace tilenet::test
