// CPU: pooling and softmax / cross-entropy through the Tensor ops against values worked out by
// hand, stability for large logits, and the error messages of bad arguments (batch norm, dropout
// and LRN: test_norm_ops_cpu.cpp; gradient checks: test_cnn_grads_cpu.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tensor/pool.h"
#include "tensor/softmax.h"
#include "test_util.h"

using namespace tilenet;
using test::throws_with;

namespace {

std::vector<float> iota(int n, float start = 0, float step = 1) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = start + step * i;
  return v;
}

Pool2dOptions pool(int k, int stride, int pad = 0) {
  Pool2dOptions o;
  o.kernel_h = o.kernel_w = k;
  o.stride_h = o.stride_w = stride;
  o.pad_top = o.pad_left = o.pad_bottom = o.pad_right = pad;
  return o;
}

}  // namespace

TEST(PoolCpu, MaxPoolByHand) {
  // 1x4x4x2: channel 0 counts up, channel 1 counts down.
  std::vector<float> v(32);
  for (int i = 0; i < 16; ++i) v[2 * i] = i, v[2 * i + 1] = 15 - i;
  Tensor x = Tensor::from_vector(v, {1, 4, 4, 2});
  const Pool2dOptions o = pool(2, 2);
  EXPECT_EQ(pool2d_output_shape(x.shape(), o), (Shape{1, 2, 2, 2}));
  Tensor y = Tensor::empty({1, 2, 2, 2}), idx = Tensor::empty({1, 2, 2, 2}, DType::i32);
  max_pool2d_forward_into(x, y, idx, o);
  EXPECT_TRUE(test::all_equal(y.to_vector(), {5, 15, 7, 13, 13, 7, 15, 5}));
  EXPECT_EQ(idx.to_ints(), (std::vector<std::int32_t>{5, 0, 7, 2, 13, 8, 15, 10}));
  Tensor dy = Tensor::from_vector(iota(8, 1), {1, 2, 2, 2}), dx = Tensor::empty({1, 4, 4, 2});
  max_pool2d_backward_into(dy, idx, dx, o);
  std::vector<float> want(32, 0.0f);
  const int in[8] = {5, 0, 7, 2, 13, 8, 15, 10};
  for (int k = 0; k < 8; ++k) want[in[k] * 2 + k % 2] = k + 1;
  EXPECT_TRUE(test::all_equal(dx.to_vector(), want));
}

TEST(PoolCpu, MaxPoolPaddingNeverWinsAndOverlapsSum) {
  // All-negative 1x3x3x1 input, 3x3 windows, stride 2, padding 1: the padded zeros must not win.
  Tensor x = Tensor::from_vector({-9, -8, -7, -6, -1, -5, -4, -3, -2}, {1, 3, 3, 1});
  const Pool2dOptions o = pool(3, 2, 1);
  Tensor y = Tensor::empty({1, 2, 2, 1}), idx = Tensor::empty({1, 2, 2, 1}, DType::i32);
  max_pool2d_forward_into(x, y, idx, o);
  EXPECT_TRUE(test::all_equal(y.to_vector(), {-1, -1, -1, -1}));
  EXPECT_EQ(idx.to_ints(), (std::vector<std::int32_t>{4, 4, 4, 4}));
  // Every window's argmax is the centre: its gradient is the sum of all four.
  Tensor dy = Tensor::from_vector({1, 2, 3, 4}, {1, 2, 2, 1}), dx = Tensor::empty({1, 3, 3, 1});
  max_pool2d_backward_into(dy, idx, dx, o);
  EXPECT_TRUE(test::all_equal(dx.to_vector(), {0, 0, 0, 0, 10, 0, 0, 0, 0}));
}

TEST(PoolCpu, MaxPoolTiesTakeFirstAndNaNPropagates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::from_vector({3, 3, 1, nan, 3, 3, 2, 0}, {1, 2, 4, 1});
  Tensor y = Tensor::empty({1, 1, 2, 1}), idx = Tensor::empty({1, 1, 2, 1}, DType::i32);
  max_pool2d_forward_into(x, y, idx, pool(2, 2));
  const std::vector<float> got = y.to_vector();
  EXPECT_EQ(got[0], 3.0f);
  EXPECT_EQ(idx.to_ints()[0], 0);
  EXPECT_TRUE(std::isnan(got[1]));
  EXPECT_EQ(idx.to_ints()[1], 3);
}

TEST(PoolCpu, AvgPoolExcludesPadding) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 2, 2, 1});
  Pool2dOptions o = pool(2, 1, 1);
  Tensor y = Tensor::empty({1, 3, 3, 1});
  avg_pool2d_forward_into(x, y, o);
  EXPECT_TRUE(test::all_close(y.to_vector(), {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4}, 1e-6, 0));
  // Backward: each input gets dy / count from every window covering it.
  Tensor dy = Tensor::full({1, 3, 3, 1}, 1.0f), dx = Tensor::empty({1, 2, 2, 1});
  avg_pool2d_backward_into(dy, dx, o);
  // Input (0,0) is in windows (0,0) count 1, (0,1) 2, (1,0) 2, (1,1) 4.
  const float corner = 1 + 0.5f + 0.5f + 0.25f;
  EXPECT_TRUE(test::all_close(dx.to_vector(), {corner, corner, corner, corner}, 1e-6, 0));
}

TEST(PoolCpu, AsymmetricPaddingShape) {
  // Keras "same" with stride 2 on an even input pads only at the bottom/right.
  Pool2dOptions o = pool(3, 2);
  o.pad_bottom = o.pad_right = 1;
  EXPECT_EQ(pool2d_output_shape(Shape{2, 8, 6, 3}, o), (Shape{2, 4, 3, 3}));
  Tensor x = Tensor::from_vector(iota(16), {1, 4, 4, 1});
  Tensor y = Tensor::empty({1, 2, 2, 1});
  avg_pool2d_forward_into(x, y, o);
  // Window (1,1) covers rows 2..3, cols 2..3 only: (10 + 11 + 14 + 15) / 4.
  EXPECT_TRUE(test::all_close(y.to_vector(), {5, 6.5f, 11, 12.5f}, 1e-6, 0));
}

TEST(PoolCpu, GlobalAvgPoolByHand) {
  Tensor x = Tensor::from_vector(iota(12), {1, 2, 3, 2}, Device::cpu(), DType::f16);
  Tensor y = Tensor::empty({1, 2}, DType::f16);
  global_avg_pool_forward_into(x, y);
  EXPECT_TRUE(test::all_equal(y.to_vector(), {5, 6}));
  Tensor dy = Tensor::from_vector({6, 12}, {1, 2}, Device::cpu(), DType::f16), dx = Tensor::empty({1, 2, 3, 2}, DType::f16);
  global_avg_pool_backward_into(dy, dx);
  EXPECT_TRUE(test::all_equal(dx.to_vector(), {1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}));
}

TEST(PoolCpu, ErrorsNameTheOp) {
  Tensor x = Tensor::zeros({1, 4, 4, 2});
  Tensor y = Tensor::empty({1, 2, 2, 2}), idx = Tensor::empty({1, 2, 2, 2}, DType::i32);
  EXPECT_TRUE(throws_with<ShapeError>([&] { pool2d_output_shape(Shape{4, 4, 2}, pool(2, 2)); }, {"pool2d", "4-D"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { pool2d_output_shape(Shape{1, 2, 2, 1}, pool(3, 1)); }, {"does not fit"}));
  EXPECT_TRUE(throws_with<ValueError>([&] { pool2d_output_shape(Shape{1, 4, 4, 1}, pool(2, 2, 2)); },
                                      {"padding must be smaller"}));
  EXPECT_TRUE(throws_with<ValueError>([&] { pool2d_output_shape(Shape{1, 4, 4, 1}, pool(2, 0)); }, {"strides"}));
  Tensor bad_y = Tensor::empty({1, 3, 3, 2});
  EXPECT_TRUE(throws_with<ShapeError>([&] { max_pool2d_forward_into(x, bad_y, idx, pool(2, 2)); },
                                      {"max_pool2d_forward", "(1, 3, 3, 2)", "(1, 2, 2, 2)"}));
  Tensor f_idx = Tensor::empty({1, 2, 2, 2});
  EXPECT_TRUE(throws_with<DtypeError>([&] { max_pool2d_forward_into(x, y, f_idx, pool(2, 2)); }, {"indices", "i32"}));
  Tensor h_y = Tensor::empty({1, 2, 2, 2}, DType::f16);
  EXPECT_THROW(avg_pool2d_forward_into(x, h_y, pool(2, 2)), DtypeError);
  Tensor ix = Tensor::empty({1, 4, 4, 2}, DType::i32);
  EXPECT_TRUE(throws_with<DtypeError>([&] { avg_pool2d_forward_into(ix, y, pool(2, 2)); }, {"avg_pool2d_forward"}));
  Tensor dx = Tensor::empty({1, 4, 4, 2});
  EXPECT_TRUE(throws_with<ShapeError>([&] { max_pool2d_backward_into(bad_y, idx, dx, pool(2, 2)); },
                                      {"max_pool2d_backward", "dy"}));
  Tensor gy = Tensor::empty({1, 3});
  EXPECT_TRUE(throws_with<ShapeError>([&] { global_avg_pool_forward_into(x, gy); }, {"global_avg_pool_forward", "(1, 2)"}));
  // Undefined indices are accepted for inference.
  Tensor none;
  EXPECT_NO_THROW(max_pool2d_forward_into(x, y, none, pool(2, 2)));
}

TEST(SoftmaxCpu, ByHand) {
  Tensor x = Tensor::from_vector({1, 2, 3, 0, 0, 0}, {2, 3});
  Tensor y = Tensor::empty({2, 3}), ly = Tensor::empty({2, 3});
  softmax_into(x, y);
  log_softmax_into(x, ly);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const std::vector<float> want = {float(std::exp(1.0) / z), float(std::exp(2.0) / z), float(std::exp(3.0) / z),
                                   1 / 3.f, 1 / 3.f, 1 / 3.f};
  EXPECT_TRUE(test::all_close(y.to_vector(), want, 0, 1e-6));
  std::vector<float> lwant(6);
  for (int i = 0; i < 6; ++i) lwant[i] = std::log(want[i]);
  EXPECT_TRUE(test::all_close(ly.to_vector(), lwant, 0, 1e-6));
  // Backward of softmax with dy = onehot(0): dx = y0 * (e0 - y).
  Tensor dy = Tensor::from_vector({1, 0, 0, 1, 0, 0}, {2, 3}), dx = Tensor::empty({2, 3});
  softmax_backward_into(y, dy, dx);
  const std::vector<float> yv = y.to_vector();
  EXPECT_TRUE(test::all_close(dx.to_vector(),
                              {yv[0] * (1 - yv[0]), -yv[0] * yv[1], -yv[0] * yv[2], 2 / 9.f, -1 / 9.f, -1 / 9.f}, 1e-7,
                              1e-6));
  // Log-softmax backward with dy = ones: dx = 1 - 3 * softmax.
  Tensor ones = Tensor::full({2, 3}, 1.0f);
  log_softmax_backward_into(ly, ones, dx);
  std::vector<float> want_dx(6);
  for (int i = 0; i < 6; ++i) want_dx[i] = 1 - 3 * want[i];
  EXPECT_TRUE(test::all_close(dx.to_vector(), want_dx, 1e-6, 1e-6));
}

TEST(SoftmaxCpu, StableForLargeLogits) {
  for (DType dt : {DType::f32, DType::f16}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor x = Tensor::from_vector({1e4f, 0, -1e4f, 1e4f, 1e4f, 1e4f}, {2, 3}, Device::cpu(), dt);
    Tensor y = Tensor::empty({2, 3}, dt), ly = Tensor::empty({2, 3}, dt);
    softmax_into(x, y);
    log_softmax_into(x, ly);
    EXPECT_TRUE(test::all_close(y.to_vector(), {1, 0, 0, 1 / 3.f, 1 / 3.f, 1 / 3.f}, 1e-3, 0));
    const float l3 = -std::log(3.0f);
    EXPECT_TRUE(test::all_close(ly.to_vector(), {0, -1e4f, -2e4f, l3, l3, l3}, 1e-3, 0));
    Tensor labels = Tensor::from_ints({1, 2}, {2});
    Tensor losses = Tensor::empty({2}), dl = Tensor::empty({2, 3}, dt);
    softmax_cross_entropy_into(x, labels, losses, dl, 1.0f);
    EXPECT_TRUE(test::all_close(losses.to_vector(), {1e4f, -l3}, 1e-3, 1e-6));
    EXPECT_TRUE(test::all_close(dl.to_vector(), {1, -1, 0, 1 / 3.f, 1 / 3.f, -2 / 3.f}, 1e-3, 0));
  }
}

TEST(SoftmaxCpu, CrossEntropyTinyBatches) {
  // Batch 1, one class: probability 1, loss 0, gradient 0 exactly.
  Tensor x1 = Tensor::from_vector({123.5f}, {1, 1}), lab0 = Tensor::from_ints({0}, {1});
  Tensor loss1 = Tensor::empty({1}), d1 = Tensor::empty({1, 1});
  softmax_cross_entropy_into(x1, lab0, loss1, d1, 1.0f);
  EXPECT_EQ(loss1.item(), 0.0f);
  EXPECT_EQ(d1.item(), 0.0f);
  // Batch 1, two classes: loss = log(1 + e^(b - a)) for label a; gradient scaled by grad_scale.
  Tensor x2 = Tensor::from_vector({0.5f, -1.5f}, {1, 2}), lab1 = Tensor::from_ints({1}, {1});
  Tensor loss2 = Tensor::empty({1}), d2 = Tensor::empty({1, 2});
  softmax_cross_entropy_into(x2, lab1, loss2, d2, 0.5f);
  const double p1 = 1 / (1 + std::exp(2.0));
  EXPECT_NEAR(loss2.item(), -std::log(p1), 1e-6);
  EXPECT_TRUE(test::all_close(d2.to_vector(), {float(0.5 * (1 - p1)), float(0.5 * (p1 - 1))}, 1e-7, 1e-6));
  // Undefined dlogits: only the loss is computed.
  Tensor none;
  softmax_cross_entropy_into(x2, lab1, loss2, none, 1.0f);
  EXPECT_NEAR(loss2.item(), -std::log(p1), 1e-6);
}

TEST(SoftmaxCpu, SoftTargetsMatchHardLabelsAndMix) {
  Tensor x = Tensor::from_vector({2, -1, 0.5f, 3, 3, -2}, {2, 3});
  Tensor hard_loss = Tensor::empty({2}), hard_d = Tensor::empty({2, 3});
  softmax_cross_entropy_into(x, Tensor::from_ints({2, 0}, {2}), hard_loss, hard_d, 1.0f);
  Tensor t = Tensor::from_vector({0, 0, 1, 1, 0, 0}, {2, 3});
  Tensor soft_loss = Tensor::empty({2}), soft_d = Tensor::empty({2, 3});
  softmax_cross_entropy_soft_into(x, t, soft_loss, soft_d, 1.0f);
  EXPECT_TRUE(test::all_close(soft_loss.to_vector(), hard_loss.to_vector(), 1e-7, 1e-6));
  EXPECT_TRUE(test::all_close(soft_d.to_vector(), hard_d.to_vector(), 1e-7, 1e-6));
  // Label smoothing style targets that do not sum to one: gradient = softmax * sum(t) - t.
  Tensor t2 = Tensor::from_vector({0.5f, 0.5f, 0.5f, 0, 0, 0}, {2, 3});
  softmax_cross_entropy_soft_into(x, t2, soft_loss, soft_d, 1.0f);
  Tensor p = Tensor::empty({2, 3}), lp = Tensor::empty({2, 3});
  softmax_into(x, p);
  log_softmax_into(x, lp);
  const std::vector<float> pv = p.to_vector(), lpv = lp.to_vector();
  EXPECT_NEAR(soft_loss.to_vector()[0], -0.5 * (lpv[0] + lpv[1] + lpv[2]), 1e-5);
  EXPECT_EQ(soft_loss.to_vector()[1], 0.0f);
  EXPECT_TRUE(test::all_close(soft_d.to_vector(),
                              {1.5f * pv[0] - 0.5f, 1.5f * pv[1] - 0.5f, 1.5f * pv[2] - 0.5f, 0, 0, 0}, 1e-6, 1e-6));
}

// Rows with no net target mass: a masked row (all targets 0) has loss 0 and gradient 0 even when
// its logits are all -inf; targets that cancel give -sum(t * x) and gradient -t.
TEST(SoftmaxCpu, SoftTargetsWithoutMass) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::from_vector({-inf, -inf, -inf, 2, -1, 0.5f}, {2, 3});
  Tensor t = Tensor::from_vector({0, 0, 0, 0.5f, -0.5f, 0}, {2, 3});
  Tensor loss = Tensor::empty({2}), d = Tensor::empty({2, 3});
  softmax_cross_entropy_soft_into(x, t, loss, d, 2.0f);
  EXPECT_EQ(loss.to_vector()[0], 0.0f);
  EXPECT_NEAR(loss.to_vector()[1], -(0.5 * 2 - 0.5 * -1), 1e-6);
  EXPECT_TRUE(test::all_close(d.to_vector(), {0, 0, 0, -1, 1, 0}, 0, 0));
}

// The loss scale multiplies the gradient before it is rounded to f16: with a gradient scale of
// 2^-30 every f16 gradient underflows to zero, with a loss scale of 2^24 on top it keeps about the
// f32 values times 2^-6; the losses do not depend on either.
TEST(SoftmaxCpu, LossScaleAppliesBeforeF16Rounding) {
  const std::vector<float> xv = iota(12, -2.0f, 0.37f);
  Tensor x16 = Tensor::from_vector(xv, {3, 4}).to(DType::f16);
  Tensor labels = Tensor::from_ints({1, 3, 0}, {3});
  Tensor targets = Tensor::from_vector({0.2f, 0.8f, 0, 0, 0, 0, 0.5f, 0.5f, 1, 0, 0, 0}, {3, 4});
  const float tiny = std::ldexp(1.0f, -30);
  Tensor scale = Tensor::from_vector({std::ldexp(1.0f, 24)}, {1});
  for (bool soft : {false, true}) {
    SCOPED_TRACE(soft ? "soft" : "hard");
    auto run = [&](const Tensor& xs, float gs, const Tensor& ls, Tensor& loss) {
      Tensor d = Tensor::empty(xs.shape(), xs.dtype());
      if (soft)
        softmax_cross_entropy_soft_into(xs, targets, loss, d, gs, ls);
      else
        softmax_cross_entropy_into(xs, labels, loss, d, gs, ls);
      return d.to_vector();
    };
    Tensor loss_a = Tensor::empty({3}), loss_b = Tensor::empty({3}), loss_c = Tensor::empty({3});
    const std::vector<float> exact = run(x16.to(DType::f32), 1.0f, Tensor(), loss_a);
    const std::vector<float> underflow = run(x16, tiny, Tensor(), loss_b);
    const std::vector<float> scaled = run(x16, tiny, scale, loss_c);
    for (float v : underflow) EXPECT_EQ(v, 0.0f);
    std::vector<float> want(exact.size());
    for (std::size_t i = 0; i < exact.size(); ++i) want[i] = exact[i] * std::ldexp(1.0f, -6);
    ASSERT_GT(test::l2_norm(want), 0.0);
    EXPECT_TRUE(test::all_close(scaled, want, 1e-6, 2e-3));
    EXPECT_TRUE(test::all_close(loss_b.to_vector(), loss_c.to_vector(), 0, 0));
    EXPECT_TRUE(test::all_close(loss_a.to_vector(), loss_c.to_vector(), 1e-6, 1e-5));
  }
  // The loss scale must be f32 [1] on the logits' device.
  Tensor losses = Tensor::empty({3}), d = Tensor::empty({3, 4}, DType::f16);
  EXPECT_TRUE(throws_with<DtypeError>(
      [&] { softmax_cross_entropy_into(x16, labels, losses, d, 1.0f, Tensor::from_vector({1, 2}, {2})); },
      {"softmax_cross_entropy", "loss_scale must be f32 with one element"}));
}

TEST(SoftmaxCpu, ErrorsNameTheOp) {
  Tensor x = Tensor::zeros({2, 3}), losses = Tensor::empty({2}), dl = Tensor::empty({2, 3}), none;
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { softmax_cross_entropy_into(x, Tensor::from_ints({0, 3}, {2}), losses, dl, 1.0f); },
      {"softmax_cross_entropy", "label 3 of row 1", "[0, 3)"}));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { softmax_cross_entropy_into(x, Tensor::from_ints({-1, 0}, {2}), losses, dl, 1.0f); }, {"label -1"}));
  EXPECT_TRUE(throws_with<DtypeError>([&] { softmax_cross_entropy_into(x, Tensor::zeros({2}), losses, dl, 1.0f); },
                                      {"labels must be i32"}));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { softmax_cross_entropy_into(x, Tensor::from_ints({0, 0, 0}, {3}), losses, dl, 1.0f); }, {"labels have shape"}));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { softmax_cross_entropy_into(Tensor::zeros({6}), Tensor::from_ints({0}, {1}), losses, none, 1.0f); },
      {"2-D"}));
  Tensor h_losses = Tensor::empty({2}, DType::f16);
  EXPECT_TRUE(throws_with<DtypeError>(
      [&] { softmax_cross_entropy_into(x, Tensor::from_ints({0, 0}, {2}), h_losses, dl, 1.0f); }, {"losses must be f32"}));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { softmax_cross_entropy_soft_into(x, Tensor::zeros({2, 4}), losses, dl, 1.0f); }, {"targets have shape"}));
  Tensor y_bad = Tensor::empty({3, 2});
  EXPECT_TRUE(throws_with<ShapeError>([&] { softmax_into(x, y_bad); }, {"softmax"}));
  Tensor y_h = Tensor::empty({2, 3}, DType::f16);
  EXPECT_TRUE(throws_with<DtypeError>([&] { log_softmax_into(x, y_h); }, {"log_softmax"}));
  Tensor empty_cols = Tensor::zeros({2, 0}), y0 = Tensor::zeros({2, 0});
  EXPECT_THROW(softmax_into(empty_cols, y0), ShapeError);
}
