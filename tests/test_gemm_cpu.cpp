// The CPU GEMM backend (gemm_cpu: blocked, packed, multi-threaded) against the double-precision
// oracle (gemm_ref) on every transpose, padded leading dimensions, batches, alpha/beta, bias/ReLU
// and both dtypes; the oracle against hand-computed values; matmul/column_sums argument checks.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <limits>

#include "gemm_test_util.h"
#include "kernels/gemm.h"
#include "tensor/linalg.h"
#include "test_util.h"

using namespace tilenet;
using kernels::Activation;
using kernels::GemmParams;

namespace {

// gemm_cpu on the problem in the given types; returns the whole C buffer as floats.
std::vector<float> run_cpu(const test::GemmProblem& pr, bool half_in, bool half_out) {
  GemmParams p = pr.p;
  p.bias = pr.bias.empty() ? nullptr : pr.bias.data();
  if (!half_in) {
    std::vector<float> c = pr.c;
    kernels::gemm_cpu(p, pr.a.data(), pr.b.data(), c.data());
    return c;
  }
  const auto a = test::to_half(pr.a), b = test::to_half(pr.b);
  if (!half_out) {
    std::vector<float> c = pr.c;
    kernels::gemm_cpu(p, a.data(), b.data(), c.data());
    return c;
  }
  auto c = test::to_half(pr.c);
  kernels::gemm_cpu(p, a.data(), b.data(), c.data());
  return test::to_float(c);
}

struct Mnk {
  std::int64_t m, n, k;
};
const Mnk kShapes[] = {{1, 1, 1},       {7, 5, 3},       {16, 16, 16},   {17, 33, 9},
                       {63, 65, 127},   {129, 257, 65},  {512, 512, 512}, {1000, 1, 1000},
                       {1, 1000, 1000}, {128, 784, 512}, {2048, 2048, 64}};

}  // namespace

TEST(GemmRef, HandComputed) {
  // A = [[1,2,3],[4,5,6]], B = [[1,0],[0,1],[2,-1]]: A*B = [[7,-1],[16,-1]].
  const std::vector<float> a{1, 2, 3, 4, 5, 6}, b{1, 0, 0, 1, 2, -1};
  std::vector<float> c{10, 20, 30, 40};
  const std::vector<float> bias{0.5f, -100};
  GemmParams p;
  p.m = 2, p.n = 2, p.k = 3, p.alpha = 2, p.beta = 0.5f;
  p.bias = bias.data();
  p.act = Activation::relu;
  kernels::gemm_ref(p, a.data(), b.data(), c.data());
  // 2*[[7,-1],[16,-1]] + 0.5*[[10,20],[30,40]] + bias, ReLU
  EXPECT_TRUE(test::all_equal(c, {19.5f, 0, 47.5f, 0}));
  // Transposed A (3x2 holding A^T) and B (2x3 holding B^T) give the same product.
  const std::vector<float> at{1, 4, 2, 5, 3, 6}, bt{1, 0, 2, 0, 1, -1};
  std::vector<float> c2(4, test::poison_f32());
  GemmParams q;
  q.m = 2, q.n = 2, q.k = 3, q.trans_a = true, q.trans_b = true;
  kernels::gemm_ref(q, at.data(), bt.data(), c2.data());
  EXPECT_TRUE(test::all_equal(c2, {7, -1, 16, -1}));
}

TEST(GemmRef, ColumnSums) {
  const std::vector<float> dy{1, 2, 3, 4, 5, 6};
  std::vector<float> db{100, 200, 300};
  kernels::column_sums_ref(dy.data(), 2, 3, db.data(), false);
  EXPECT_TRUE(test::all_equal(db, {5, 7, 9}));
  kernels::column_sums_ref(dy.data(), 2, 3, db.data(), true);
  EXPECT_TRUE(test::all_equal(db, {10, 14, 18}));
  const auto dyh = test::to_half(dy);
  kernels::column_sums_ref(dyh.data(), 2, 3, db.data(), false);
  EXPECT_TRUE(test::all_equal(db, {5, 7, 9}));
}

// Every shape and transpose, f32 and both fp16 variants, exact on small integers.
TEST(GemmCpu, ShapesAndTransposesMatchReference) {
  for (const Mnk& s : kShapes) {
    if (test::small_mode() && s.m * s.n * s.k > 20'000'000) continue;
    for (int t = 0; t < 4; ++t) {
      test::GemmCase cs;
      cs.m = s.m, cs.n = s.n, cs.k = s.k, cs.ta = t & 1, cs.tb = t & 2;
      const auto pr = test::make_gemm_problem(cs, test::kSeed + t);
      SCOPED_TRACE(cs.str() + " seed " + std::to_string(test::kSeed + t));
      const auto ref = test::gemm_oracle(pr, false, false);
      if (s.m * s.n >= 16) ASSERT_GT(test::finite_norm(ref), 0.0);
      EXPECT_TRUE(test::all_equal(run_cpu(pr, false, false), ref));
      if (s.m * s.n * s.k <= 20'000'000) {
        EXPECT_TRUE(test::all_equal(run_cpu(pr, true, false), test::gemm_oracle(pr, true, false)));
        EXPECT_TRUE(test::all_equal(run_cpu(pr, true, true), test::gemm_oracle(pr, true, true)));
      }
    }
  }
}

// alpha/beta, bias, ReLU, padded leading dimensions (NaN padding must be neither read nor written),
// batches with gaps between matrices.
TEST(GemmCpu, EpilogueLeadingDimensionsAndBatches) {
  const Mnk shapes[] = {{7, 5, 3}, {17, 33, 9}, {100, 70, 300}, {129, 257, 65}};
  for (const Mnk& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (int variant = 0; variant < 3; ++variant) {
        test::GemmCase cs;
        cs.m = s.m, cs.n = s.n, cs.k = s.k, cs.ta = t & 1, cs.tb = t & 2;
        cs.pad = variant == 0 ? 0 : 5;
        cs.batch = variant == 2 ? 3 : 1;
        cs.alpha = variant == 0 ? 1.0f : 0.5f;
        cs.beta = variant == 0 ? 0.0f : -1.5f;
        cs.bias = variant != 0;
        cs.act = variant == 1 ? Activation::relu : Activation::none;
        const auto pr = test::make_gemm_problem(cs, test::kSeed);
        SCOPED_TRACE(cs.str());
        EXPECT_TRUE(test::all_equal(run_cpu(pr, false, false), test::gemm_oracle(pr, false, false)));
        EXPECT_TRUE(test::all_equal(run_cpu(pr, true, true), test::gemm_oracle(pr, true, true)));
      }
}

TEST(GemmCpu, RealValuesWithinTolerance) {
  test::GemmCase cs;
  cs.m = 77, cs.n = 301, cs.k = 1111, cs.ints = false, cs.beta = 0.25f, cs.bias = true;
  const auto pr = test::make_gemm_problem(cs, test::kSeed);
  const auto ref = test::gemm_oracle(pr, false, false);
  EXPECT_GT(test::finite_norm(ref), 0.0);
  EXPECT_TRUE(test::all_close(run_cpu(pr, false, false), ref, 1e-4, 1e-4));
  EXPECT_TRUE(test::all_close(run_cpu(pr, true, false), test::gemm_oracle(pr, true, false), 1e-4, 1e-4));
}

TEST(GemmCpu, ReluLetsNaNThrough) {
  // Bias NaN in column 0: the ReLU epilogue keeps it (as PyTorch's ReLU does); column 1 clamps.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a{1, 2}, b{3, -4, 5, -6}, bias{nan, 1};
  GemmParams p;
  p.m = 1, p.n = 2, p.k = 2, p.bias = bias.data(), p.act = Activation::relu;
  std::vector<float> c(2, 7.0f), c2(2, 7.0f);
  kernels::gemm_cpu(p, a.data(), b.data(), c.data());
  kernels::gemm_ref(p, a.data(), b.data(), c2.data());
  for (const auto& got : {c, c2}) {
    EXPECT_TRUE(std::isnan(got[0]));
    EXPECT_EQ(got[1], 0.0f);  // 1*-4 + 2*-6 + 1 = -15
  }
}

TEST(GemmCpu, EmptyInnerDimensionAppliesEpilogue) {
  // k == 0: C = beta*C + bias, A and B are never read (null).
  std::vector<float> c{1, 2, 3, 4}, bias{10, 20};
  GemmParams p;
  p.m = 2, p.n = 2, p.k = 0, p.beta = 2, p.bias = bias.data();
  kernels::gemm_cpu(p, static_cast<const float*>(nullptr), nullptr, c.data());
  EXPECT_TRUE(test::all_equal(c, {12, 24, 16, 28}));
  std::vector<float> c2{1, 2, 3, 4};
  kernels::gemm_ref(p, static_cast<const float*>(nullptr), nullptr, c2.data());
  EXPECT_TRUE(test::all_equal(c2, {12, 24, 16, 28}));
}

TEST(GemmCpu, BadParametersThrow) {
  std::vector<float> a(100), b(100), c(100);
  GemmParams p;
  p.m = 4, p.n = 4, p.k = 4;
  GemmParams q = p;
  q.lda = 3;
  EXPECT_THROW(kernels::gemm_cpu(q, a.data(), b.data(), c.data()), ValueError);
  q = p;
  q.m = -1;
  EXPECT_THROW(kernels::gemm_cpu(q, a.data(), b.data(), c.data()), ValueError);
  q = p;
  q.trans_b = true, q.ldb = 2;
  EXPECT_THROW(kernels::gemm_cpu(q, a.data(), b.data(), c.data()), ValueError);
  q = p;
  q.batch = 2, q.stride_c = 4;  // batches of C would overlap
  EXPECT_THROW(kernels::gemm_cpu(q, a.data(), b.data(), c.data()), ValueError);
  EXPECT_THROW(kernels::gemm_cpu(p, a.data(), nullptr, c.data()), ValueError);
  try {
    q = p;
    q.ldc = 2;
    kernels::gemm_ref(q, a.data(), b.data(), c.data());
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("gemm_ref"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ldc=2"), std::string::npos) << e.what();
  }
}

// The CPU training paths lean on this: an MNIST-sized Dense forward should take a few ms.
TEST(GemmCpu, MnistLayerIsFast) {
  const std::int64_t m = 128, n = 512, k = 784;
  const auto a = test::random_uniform(m * k, -1, 1, 1), b = test::random_uniform(k * n, -1, 1, 2);
  std::vector<float> c(m * n);
  GemmParams p;
  p.m = m, p.n = n, p.k = k;
  kernels::gemm_cpu(p, a.data(), b.data(), c.data());  // warm-up (thread pool, buffers)
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    kernels::gemm_cpu(p, a.data(), b.data(), c.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("gemm_cpu 128x512x784: %.2f ms, %.2f GFLOP/s\n", best * 1e3, 2.0 * m * n * k / best * 1e-9);
  RecordProperty("ms", std::to_string(best * 1e3));
  EXPECT_LT(best, 0.25) << "gemm_cpu is far slower than expected";  // generous: shared CI machines
}

TEST(Linalg, MatmulCpuAllVariants) {
  // a [2,3], b [3,2]; a^T stored as [3,2]; b^T as [2,3].
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({1, 0, 0, 1, 2, -1}, {3, 2});
  EXPECT_TRUE(test::all_equal(matmul(a, b).to_vector(), {7, -1, 16, -1}));
  Tensor at = Tensor::from_vector({1, 4, 2, 5, 3, 6}, {3, 2});
  Tensor bt = Tensor::from_vector({1, 0, 2, 0, 1, -1}, {2, 3});
  EXPECT_TRUE(test::all_equal(matmul(at, bt, true, true).to_vector(), {7, -1, 16, -1}));
  Tensor out = Tensor::full({2, 2}, 1.0f);
  Tensor bias = Tensor::from_vector({1, -20}, {2});
  matmul_into(a, b, out, false, false, 1.0f, 1.0f, bias, Activation::relu);
  EXPECT_TRUE(test::all_equal(out.to_vector(), {9, 0, 18, 0}));
  // fp16 inputs, f16 and f32 outputs.
  Tensor ah = a.to(DType::f16), bh = b.to(DType::f16);
  Tensor oh = matmul(ah, bh);
  EXPECT_EQ(oh.dtype(), DType::f16);
  EXPECT_TRUE(test::all_equal(oh.to_vector(), {7, -1, 16, -1}));
  Tensor of = Tensor::empty({2, 2}, DType::f32);
  matmul_into(ah, bh, of);
  EXPECT_TRUE(test::all_equal(of.to_vector(), {7, -1, 16, -1}));
  // Batched: [2, 2, 3] x [2, 3, 2].
  Tensor a3 = Tensor::from_vector({1, 2, 3, 4, 5, 6, 1, 1, 1, 1, 1, 1}, {2, 2, 3});
  Tensor b3 = Tensor::from_vector({1, 0, 0, 1, 2, -1, 1, 2, 3, 4, 5, 6}, {2, 3, 2});
  Tensor o3 = matmul(a3, b3);
  EXPECT_EQ(o3.shape(), (Shape{2, 2, 2}));
  EXPECT_TRUE(test::all_equal(o3.to_vector(), {7, -1, 16, -1, 9, 12, 9, 12}));
}

TEST(Linalg, ColumnSums) {
  Tensor dy = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor db = Tensor::full({3}, 1.0f);
  column_sums_into(dy, db, true);
  EXPECT_TRUE(test::all_equal(db.to_vector(), {6, 8, 10}));
  column_sums_into(dy.to(DType::f16), db);
  EXPECT_TRUE(test::all_equal(db.to_vector(), {5, 7, 9}));
  Tensor bad = Tensor::zeros({2});
  EXPECT_THROW(column_sums_into(dy, bad), ShapeError);
  Tensor badh = Tensor::zeros({3}, DType::f16);
  EXPECT_THROW(column_sums_into(dy, badh), DtypeError);
}

TEST(Linalg, MatmulErrorsNameOpAndShapes) {
  Tensor a = Tensor::zeros({4, 3}), b = Tensor::zeros({5, 2});
  try {
    matmul(a, b);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("matmul"), std::string::npos) << w;
    EXPECT_NE(w.find("(4, 3)"), std::string::npos) << w;
    EXPECT_NE(w.find("(5, 2)"), std::string::npos) << w;
  }
  EXPECT_THROW(matmul(a, b, true, false), ShapeError);  // a^T is 3x4, b is 5x2
  EXPECT_NO_THROW(matmul(a, Tensor::zeros({2, 3}), false, true));  // a [4,3] x (b [2,3])^T
  Tensor out = Tensor::zeros({4, 3});
  EXPECT_THROW(matmul_into(a, Tensor::zeros({3, 2}), out), ShapeError);  // out must be 4x2
  Tensor o32 = Tensor::zeros({4, 2});
  EXPECT_THROW(matmul_into(a.to(DType::f16), Tensor::zeros({3, 2}), o32), DtypeError);  // f16 x f32
  Tensor o16 = Tensor::zeros({4, 2}, DType::f16);
  EXPECT_THROW(matmul_into(a, Tensor::zeros({3, 2}), o16), DtypeError);  // f32 inputs, f16 out
  EXPECT_THROW(matmul_into(a, Tensor::zeros({3, 2}), o32, false, false, 1, 0, Tensor::zeros({3})), ShapeError);
  EXPECT_THROW(matmul_into(a, Tensor::zeros({3, 2}), o32, false, false, 1, 0, Tensor::zeros({2}, DType::f16)),
               DtypeError);
  EXPECT_THROW(matmul(Tensor::zeros({2, 4, 3}), Tensor::zeros({3, 2})), ShapeError);  // mixed ranks
  EXPECT_THROW(matmul(Tensor::zeros({2, 4, 3}), Tensor::zeros({3, 3, 2})), ShapeError);  // batch 2 vs 3
  EXPECT_THROW(matmul(Tensor::zeros({4}), Tensor::zeros({4})), ShapeError);
  EXPECT_THROW(matmul(Tensor(), Tensor::zeros({3, 2})), Error);
  // out overlapping an input
  Tensor sq = Tensor::zeros({3, 3});
  EXPECT_THROW(matmul_into(sq, Tensor::zeros({3, 3}), sq), ValueError);
}

