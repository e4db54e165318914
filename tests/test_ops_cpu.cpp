// CPU references of the elementwise and reduction kernels against hand-computed values, and the
// argument checks of the Tensor ops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "tensor/parallel.h"
#include <mutex>
#include "tensor/ops.h"
#include "test_util.h"

using namespace tilenet;

TEST(ElementwiseRef, BinaryOpsByHand) {
  Tensor a = Tensor::from_vector({1, -2, 3, 8}, {4});
  Tensor b = Tensor::from_vector({4, 5, -6, 2}, {4});
  EXPECT_TRUE(test::all_equal(add(a, b).to_vector(), {5, 3, -3, 10}));
  EXPECT_TRUE(test::all_equal(sub(a, b).to_vector(), {-3, -7, 9, 6}));
  EXPECT_TRUE(test::all_equal(mul(a, b).to_vector(), {4, -10, -18, 16}));
  EXPECT_TRUE(test::all_equal(div(a, b).to_vector(), {0.25f, -0.4f, -0.5f, 4}));
}

TEST(ElementwiseRef, ScaleAxpyFill) {
  Tensor y = Tensor::from_vector({1, 2, 3}, {3});
  Tensor x = Tensor::from_vector({10, 20, 30}, {3});
  axpy_(0.5f, x, y);
  EXPECT_TRUE(test::all_equal(y.to_vector(), {6, 12, 18}));
  scale_(y, -2.0f);
  EXPECT_TRUE(test::all_equal(y.to_vector(), {-12, -24, -36}));
  fill_(y, 0.75f);
  EXPECT_TRUE(test::all_equal(y.to_vector(), {0.75f, 0.75f, 0.75f}));
}

TEST(ElementwiseRef, BiasAndRelu) {
  Tensor x = Tensor::from_vector({1, -2, 3, -4, 5, -6}, {2, 3});
  Tensor bias = Tensor::from_vector({0.5f, 1, -1}, {3});
  EXPECT_TRUE(test::all_equal(add_bias(x, bias).to_vector(), {1.5f, -1, 2, -3.5f, 6, -7}));
  EXPECT_TRUE(test::all_equal(relu(x).to_vector(), {1, 0, 3, 0, 5, 0}));
  // A NaN passes ReLU (as in PyTorch): a diverging model is not hidden behind zeros.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(relu(Tensor::from_vector({nan}, {1})).to_vector()[0]));
  Tensor dy = Tensor::from_vector({7, 7, 7, 7, 7, 7}, {2, 3});
  EXPECT_TRUE(test::all_equal(relu_backward(dy, x).to_vector(), {7, 0, 7, 0, 7, 0}));
  Tensor bad_bias = Tensor::zeros({2});
  EXPECT_THROW(add_bias(x, bad_bias), ShapeError);
}

TEST(ElementwiseRef, HalfComputesInFloatAndRoundsOnce) {
  // 2049 is not representable in fp16: 2048 + 1 must round to even (2048).
  Tensor a = Tensor::from_vector({2048, 1}, {2}, Device::cpu(), DType::f16);
  Tensor b = Tensor::from_vector({1, 1}, {2}, Device::cpu(), DType::f16);
  EXPECT_TRUE(test::all_equal(add(a, b).to_vector(), {2048, 2}));
}

TEST(ReduceRef, SumMaxWholeAndLastDim) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, -5, 6}, {2, 3});
  EXPECT_EQ(sum(x).item(), 11.0f);
  EXPECT_EQ(max(x).item(), 6.0f);
  EXPECT_TRUE(test::all_equal(sum_lastdim(x).to_vector(), {6, 5}));
  EXPECT_TRUE(test::all_equal(max_lastdim(x).to_vector(), {3, 6}));
  EXPECT_EQ(sum_lastdim(x).shape(), (Shape{2}));
  EXPECT_EQ(kernels::reduce_all_ref(kernels::ReduceOp::sum, x.data<float>(), 0), 0.0f);
  EXPECT_TRUE(std::isinf(kernels::reduce_all_ref(kernels::ReduceOp::max, x.data<float>(), 0)));
}

TEST(ReduceRef, LargeSumIsAccurate) {
  // 1e6 values of 0.1: float accumulation would drift; the double accumulator does not.
  std::vector<float> v(1000000, 0.1f);
  const float s = kernels::reduce_all_ref(kernels::ReduceOp::sum, v.data(), static_cast<std::int64_t>(v.size()));
  EXPECT_NEAR(s, 100000.0, 0.01);
}

TEST(OpsErrors, MismatchesNameTheOp) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({3, 2});
  try {
    add(a, b);
    FAIL();
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("add"), std::string::npos) << m;
    EXPECT_NE(m.find("(2, 3)"), std::string::npos) << m;
    EXPECT_NE(m.find("(3, 2)"), std::string::npos) << m;
  }
  Tensor h = Tensor::zeros({2, 3}, DType::f16);
  EXPECT_THROW(mul(a, h), DtypeError);
  EXPECT_THROW(relu(Tensor()), ValueError);
}

TEST(Parallel, CoversRangeOnceAndPropagatesErrors) {
  std::vector<int> hits(100003, 0);
  parallel_for(0, static_cast<std::int64_t>(hits.size()), 1000, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) hits[i]++;
  });
  for (int h : hits) ASSERT_EQ(h, 1);
  EXPECT_THROW(parallel_for(0, 100, 1, [](std::int64_t b, std::int64_t) {
                 if (b > 50) throw ValueError("boom");
               }),
               ValueError);
  // Still usable after an exception.
  std::int64_t total = 0;
  std::mutex mu;
  parallel_for(0, 1000, 10, [&](std::int64_t b, std::int64_t e) {
    std::lock_guard<std::mutex> g(mu);
    total += e - b;
  });
  EXPECT_EQ(total, 1000);
}
