// CPU: batch norm, dropout and local response normalisation through the Tensor ops against values
// worked out by hand, and the error messages of bad arguments (gradient checks:
// test_cnn_grads_cpu.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/dropout.h"
#include "tensor/normalization.h"
#include "test_util.h"

using namespace tilenet;
using test::throws_with;

TEST(BatchNormCpu, TrainAndInferByHand) {
  Tensor x = Tensor::from_vector({1, 10, 2, 20, 3, 30, 4, 40}, {2, 2, 2});  // rows 4, channels 2
  Tensor gamma = Tensor::from_vector({2, 1}, {2}), beta = Tensor::from_vector({1, 0}, {2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::full({2}, 1.0f), y = Tensor::empty({2, 2, 2});
  Tensor sm = Tensor::empty({2}), si = Tensor::empty({2});
  const float eps = 1e-3f;
  batchnorm_forward_train_into(x, gamma, beta, rm, rv, y, sm, si, 0.9f, eps);
  const double var0 = 1.25, var1 = 125;
  const double is0 = 1 / std::sqrt(var0 + eps), is1 = 1 / std::sqrt(var1 + eps);
  EXPECT_TRUE(test::all_close(sm.to_vector(), {2.5f, 25}, 0, 1e-6));
  EXPECT_TRUE(test::all_close(si.to_vector(), {float(is0), float(is1)}, 0, 1e-6));
  std::vector<float> want(8);
  for (int r = 0; r < 4; ++r) {
    want[2 * r] = float(2 * (r + 1 - 2.5) * is0 + 1);
    want[2 * r + 1] = float((10 * (r + 1) - 25) * is1);
  }
  EXPECT_TRUE(test::all_close(y.to_vector(), want, 1e-6, 1e-6));
  // Running statistics: momentum 0.9, unbiased variance (4/3 of the biased one).
  EXPECT_TRUE(test::all_close(rm.to_vector(), {0.25f, 2.5f}, 0, 1e-6));
  EXPECT_TRUE(test::all_close(rv.to_vector(), {float(0.9 + 0.1 * var0 * 4 / 3), float(0.9 + 0.1 * var1 * 4 / 3)}, 0, 1e-6));
  // Inference with the running statistics.
  Tensor yi = Tensor::empty({2, 2, 2});
  batchnorm_forward_infer_into(x, gamma, beta, rm, rv, yi, eps);
  const std::vector<float> rmv = rm.to_vector(), rvv = rv.to_vector();
  EXPECT_NEAR(yi.to_vector()[0], 2 * (1 - rmv[0]) / std::sqrt(rvv[0] + eps) + 1, 1e-5);
  EXPECT_NEAR(yi.to_vector()[7], (40 - rmv[1]) / std::sqrt(rvv[1] + eps), 1e-5);
}

TEST(BatchNormCpu, BackwardSumsAndAccumulates) {
  Tensor x = Tensor::from_vector({1, 2, 4, 7}, {4, 1});
  Tensor gamma = Tensor::from_vector({1.5f}, {1}), beta = Tensor::zeros({1});
  Tensor rm = Tensor::zeros({1}), rv = Tensor::zeros({1}), y = Tensor::empty({4, 1});
  Tensor sm = Tensor::empty({1}), si = Tensor::empty({1});
  batchnorm_forward_train_into(x, gamma, beta, rm, rv, y, sm, si, 0.99f, 1e-5f);
  Tensor dy = Tensor::from_vector({1, 1, 1, 1}, {4, 1}), dx = Tensor::empty({4, 1});
  Tensor dg = Tensor::full({1}, 10.0f), db = Tensor::full({1}, 10.0f);
  batchnorm_backward_into(dy, x, gamma, sm, si, dx, dg, db, true);
  // A constant dy shifts every output equally: dx = 0, dbeta = sum(dy), dgamma = sum(xhat) = 0.
  EXPECT_TRUE(test::all_close(dx.to_vector(), {0, 0, 0, 0}, 1e-6, 0));
  EXPECT_NEAR(db.item(), 14.0f, 1e-6);
  EXPECT_NEAR(dg.item(), 10.0f, 1e-5);
  batchnorm_backward_into(dy, x, gamma, sm, si, dx, dg, db, false);
  EXPECT_NEAR(db.item(), 4.0f, 1e-6);
}

TEST(BatchNormCpu, LargeOffsetKeepsVariance) {
  // Values 1e4 + {-1, 0, 1}: a one-pass sum of squares in fp32 would lose the variance entirely.
  Tensor x = Tensor::from_vector({1e4f - 1, 1e4f, 1e4f + 1}, {3, 1});
  Tensor g = Tensor::full({1}, 1.0f), b = Tensor::zeros({1}), rm = Tensor::zeros({1}), rv = Tensor::zeros({1});
  Tensor y = Tensor::empty({3, 1}), sm = Tensor::empty({1}), si = Tensor::empty({1});
  batchnorm_forward_train_into(x, g, b, rm, rv, y, sm, si, 0.0f, 1e-5f);
  const double is = 1 / std::sqrt(2.0 / 3 + 1e-5);
  EXPECT_TRUE(test::all_close(y.to_vector(), {float(-is), 0, float(is)}, 1e-5, 1e-5));
  EXPECT_NEAR(rv.item(), 1.0f, 1e-6);  // unbiased variance with momentum 0
}

TEST(BatchNormCpu, ErrorsNameTheOp) {
  Tensor x = Tensor::zeros({4, 3}), y = Tensor::empty({4, 3});
  Tensor c3 = Tensor::zeros({3}), c2 = Tensor::zeros({2}), rm = Tensor::zeros({3}), rv = Tensor::zeros({3});
  Tensor sm = Tensor::empty({3}), si = Tensor::empty({3});
  EXPECT_TRUE(throws_with<ShapeError>([&] { batchnorm_forward_train_into(x, c2, c3, rm, rv, y, sm, si, 0.9f, 1e-5f); },
                                      {"batchnorm_forward_train", "gamma", "(2,)", "(3,)"}));
  Tensor h3 = Tensor::zeros({3}, DType::f16);
  EXPECT_TRUE(throws_with<DtypeError>([&] { batchnorm_forward_train_into(x, c3, h3, rm, rv, y, sm, si, 0.9f, 1e-5f); },
                                      {"beta must be f32"}));
  EXPECT_TRUE(throws_with<ValueError>([&] { batchnorm_forward_train_into(x, c3, c3, rm, rv, y, sm, si, 1.5f, 1e-5f); },
                                      {"momentum"}));
  EXPECT_TRUE(throws_with<ValueError>([&] { batchnorm_forward_infer_into(x, c3, c3, rm, rv, y, 0.0f); }, {"eps"}));
  Tensor x1 = Tensor::zeros({3}), y1 = Tensor::empty({3});
  EXPECT_TRUE(throws_with<ShapeError>([&] { batchnorm_forward_infer_into(x1, c3, c3, rm, rv, y1, 1e-5f); },
                                      {"batchnorm_forward_infer", "at least 2-D"}));
  Tensor dx_bad = Tensor::empty({4, 3}, DType::f16);
  EXPECT_THROW(batchnorm_backward_into(x, x, c3, sm, si, dx_bad, c3, c3, false), DtypeError);
}

TEST(DropoutCpu, MaskRateScaleAndOffsets) {
  const std::int64_t n = 100000;
  const float rate = 0.3f;
  Tensor x = Tensor::full({n}, 2.0f), y = Tensor::empty({n});
  dropout_forward_into(x, y, rate, 42, 1000);
  const std::vector<float> yv = y.to_vector();
  std::int64_t kept = 0;
  for (float v : yv) {
    if (v != 0.0f) {
      ++kept;
      EXPECT_EQ(v, 2.0f * (1.0f / 0.7f));
    }
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.7, 0.01);
  // Same (seed, offset) -> same mask; a piece at offset 1000 + k reproduces elements k...
  Tensor tail = Tensor::full({n - 777}, 2.0f), tail_y = Tensor::empty({n - 777});
  dropout_forward_into(tail, tail_y, rate, 42, 1000 + 777);
  const std::vector<float> tv = tail_y.to_vector();
  EXPECT_TRUE(test::all_equal(tv, std::vector<float>(yv.begin() + 777, yv.end())));
  // ... and the mask matches kernels::dropout_mask_ref.
  std::vector<std::uint8_t> mask(n);
  kernels::dropout_mask_ref(mask.data(), n, rate, 42, 1000);
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(mask[i] != 0, yv[i] != 0.0f) << i;
  // Backward regenerates the same mask.
  Tensor dy = Tensor::full({n}, 1.0f, DType::f32), dx = Tensor::empty({n});
  dropout_backward_into(dy, dx, rate, 42, 1000);
  const std::vector<float> dxv = dx.to_vector();
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(dxv[i] != 0.0f, mask[i] != 0) << i;
  // A different seed gives a different mask.
  dropout_forward_into(x, y, rate, 43, 1000);
  EXPECT_FALSE(test::all_equal(y.to_vector(), yv));
}

TEST(DropoutCpu, RateZeroIsIdentityAndRateOneThrows) {
  Tensor x = Tensor::from_vector({1, -2, 3, 0.5f}, {2, 2}, Device::cpu(), DType::f16), y = Tensor::empty({2, 2}, DType::f16);
  dropout_forward_into(x, y, 0.0f, 7, 0);
  EXPECT_TRUE(test::all_equal(y.to_vector(), x.to_vector()));
  EXPECT_TRUE(throws_with<ValueError>([&] { dropout_forward_into(x, y, 1.0f, 7, 0); }, {"dropout_forward", "rate"}));
  EXPECT_THROW(dropout_backward_into(x, y, -0.1f, 7, 0), ValueError);
  Tensor yf = Tensor::empty({2, 2});
  EXPECT_THROW(dropout_forward_into(x, yf, 0.5f, 7, 0), DtypeError);
}

TEST(LrnCpu, ByHandAndErrors) {
  // One pixel, C = 3, size 3, alpha / size = 1, beta = 1, k = 1: s = 1 + (1+4), 1 + (1+4+9), 1 + (4+9).
  Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3}), y = Tensor::empty({1, 3});
  LrnOptions o;
  o.size = 3, o.alpha = 3, o.beta = 1, o.k = 1;
  lrn_forward_into(x, y, o);
  EXPECT_TRUE(test::all_close(y.to_vector(), {1 / 6.f, 2 / 15.f, 3 / 14.f}, 0, 1e-6));
  // Defaults (AlexNet: size 5, alpha 1e-4, beta 0.75, k 2) on f16 NHWC.
  Tensor xh = Tensor::from_vector({1, -2, 3, 0.5f, 4, -1}, {1, 1, 2, 3}, Device::cpu(), DType::f16);
  Tensor yh = Tensor::empty({1, 1, 2, 3}, DType::f16);
  lrn_forward_into(xh, yh);
  const float d = std::pow(2.0f, -0.75f);  // k = 2 dominates the tiny alpha
  EXPECT_TRUE(test::all_close(yh.to_vector(), {d, -2 * d, 3 * d, 0.5f * d, 4 * d, -d}, 0, 2e-3));
  o.size = 0;
  EXPECT_TRUE(throws_with<ValueError>([&] { lrn_forward_into(x, y, o); }, {"lrn_forward", "size"}));
  Tensor dx = Tensor::empty({1, 4});
  EXPECT_TRUE(throws_with<ShapeError>([&] { lrn_backward_into(x, y, dx); }, {"lrn_backward"}));
}
