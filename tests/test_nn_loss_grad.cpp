// Gradient checks of every nn loss on the CPU: d(mean loss)/d(pred) from compute_loss against
// central differences of the mean loss in double; loss scaling; operand checks of the public
// loss and metric entry points; the model's fused softmax + cross-entropy head.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>

#include "nn/sequential.h"
#include "nn_grad_util.h"
#include "optim/optimizers.h"
#include "test_util.h"

namespace tilenet::nn {
namespace {

using test::kSeed;
using grad_check::check_entries;
using grad_check::rnd;

void check_loss(const Loss& loss, bool logits, const Tensor& pred0, const Tensor& target, double eps = 1e-3) {
  const std::int64_t b = pred0.dim(0);
  Tensor pred = pred0.clone();
  Tensor losses = Tensor::empty({b});
  Tensor d = Tensor::empty(pred.shape());
  compute_loss(loss, pred, logits, target, losses, d, 1.0f / static_cast<float>(b));
  const std::vector<float> analytic = d.to_vector();
  Tensor none;
  auto mean_loss = [&] {
    compute_loss(loss, pred, logits, target, losses, none, 1.0f);
    double s = 0.0;
    for (float v : losses.to_vector()) s += v;
    return s / static_cast<double>(b);
  };
  check_entries(
      loss.name() + (logits ? " (logits)" : " (probabilities)"), pred.to_vector(), analytic,
      [&](const std::vector<float>& v) { pred = Tensor::from_vector(v, pred0.shape()); }, mean_loss, eps, 1e-3, 1e-2);
}

Tensor probabilities(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  std::vector<float> v = rnd(static_cast<std::size_t>(rows * cols), 0.1f, 1.0f, seed);
  for (std::int64_t r = 0; r < rows; ++r) {
    float s = 0.0f;
    for (std::int64_t c = 0; c < cols; ++c) s += v[r * cols + c];
    for (std::int64_t c = 0; c < cols; ++c) v[r * cols + c] /= s;
  }
  return Tensor::from_vector(v, {rows, cols});
}

TEST(NnGrad, SparseCrossentropyFromLogitsGrad) {
  check_loss(losses::SparseCategoricalCrossentropy(true), true, Tensor::from_vector(rnd(20, -2, 2, kSeed), {4, 5}),
             Tensor::from_ints({0, 3, 4, 1}, {4}));
}

TEST(NnGrad, CategoricalCrossentropyFromLogitsGrad) {
  check_loss(losses::CategoricalCrossentropy(true), true, Tensor::from_vector(rnd(20, -2, 2, kSeed), {4, 5}),
             probabilities(4, 5, kSeed + 1));
}

TEST(NnGrad, SparseCrossentropyFromProbabilitiesGrad) {
  // Unnormalised probabilities exercise Keras's normalisation inside the loss.
  Tensor p = Tensor::from_vector(rnd(20, 0.05f, 1.0f, kSeed), {4, 5});
  check_loss(losses::SparseCategoricalCrossentropy(), false, p, Tensor::from_ints({2, 0, 1, 4}, {4}), 1e-4);
}

TEST(NnGrad, CategoricalCrossentropyFromProbabilitiesGrad) {
  Tensor p = Tensor::from_vector(rnd(20, 0.05f, 1.0f, kSeed + 2), {4, 5});
  check_loss(losses::CategoricalCrossentropy(), false, p, probabilities(4, 5, kSeed + 3), 1e-4);
}

TEST(NnGrad, MeanSquaredErrorGrad) {
  check_loss(losses::MeanSquaredError(), false, Tensor::from_vector(rnd(12, -1, 1, kSeed), {3, 4}),
             Tensor::from_vector(rnd(12, -1, 1, kSeed + 1), {3, 4}));
}

// Every loss multiplies its gradient by the device-side loss scale (here a host tensor on the CPU)
// on top of grad_scale, and leaves the losses alone.
TEST(NnGrad, LossScaleMultipliesEveryLossGradient) {
  const Tensor logits = Tensor::from_vector(rnd(20, -2, 2, kSeed), {4, 5});
  const Tensor probs = Tensor::from_vector(rnd(20, 0.05f, 1.0f, kSeed + 4), {4, 5});
  const Tensor sparse = Tensor::from_ints({0, 3, 4, 1}, {4}), dense = probabilities(4, 5, kSeed + 5);
  const Tensor scale = Tensor::from_vector({256.0f}, {1});
  struct Case {
    Loss loss;
    bool logits;
    const Tensor& pred;
    const Tensor& target;
  };
  const Case cases[] = {{losses::SparseCategoricalCrossentropy(true), true, logits, sparse},
                        {losses::CategoricalCrossentropy(true), true, logits, dense},
                        {losses::SparseCategoricalCrossentropy(), false, probs, sparse},
                        {losses::CategoricalCrossentropy(), false, probs, dense},
                        {losses::MeanSquaredError(), false, logits, dense}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.loss.name());
    Tensor l1 = Tensor::empty({4}), l2 = Tensor::empty({4});
    Tensor d1 = Tensor::empty({4, 5}), d2 = Tensor::empty({4, 5});
    compute_loss(c.loss, c.pred, c.logits, c.target, l1, d1, 0.25f);
    compute_loss(c.loss, c.pred, c.logits, c.target, l2, d2, 0.25f, scale);
    std::vector<float> want = d1.to_vector();
    for (float& v : want) v *= 256.0f;
    ASSERT_GT(test::l2_norm(want), 0.0);
    EXPECT_TRUE(test::all_close(d2.to_vector(), want, 1e-5, 1e-6));
    EXPECT_TRUE(test::all_close(l2.to_vector(), l1.to_vector(), 0, 0));
  }
}

// The kernels behind compute_loss and accumulate_metrics trust their buffers' sizes: every entry
// point checks them first, on every loss path, with a message naming what it got.
TEST(NnGrad, LossAndMetricOperandsAreChecked) {
  const Tensor logits = Tensor::from_vector(rnd(20, -2, 2, kSeed), {4, 5});
  const Tensor labels = Tensor::from_ints({0, 3, 4, 1}, {4}), dense = probabilities(4, 5, kSeed + 5);
  Tensor l = Tensor::empty({4}), d = Tensor::empty({4, 5}), none;
  for (bool from_logits : {true, false}) {
    SCOPED_TRACE(from_logits);
    EXPECT_TRUE(test::throws_with<ShapeError>(
        [&] { compute_loss(losses::MeanSquaredError(), logits, false, dense.slice(0, 3), l, d, 1.0f); },
        {"loss", "targets", "(3, 5)"}));
    EXPECT_TRUE(test::throws_with<ShapeError>(
        [&] {
          compute_loss(losses::SparseCategoricalCrossentropy(from_logits), logits, from_logits,
                       labels.slice(0, 3), l, d, 1.0f);
        },
        {"loss", "labels", "expected i32 (4,)"}));
    Tensor small = Tensor::empty({3});
    EXPECT_TRUE(test::throws_with<ShapeError>(
        [&] { compute_loss(losses::CategoricalCrossentropy(from_logits), logits, from_logits, dense, small, d, 1.0f); },
        {"loss", "losses", "at least 4"}));
    Tensor d16 = Tensor::empty({4, 5}, DType::f16);
    EXPECT_TRUE(test::throws_with<ShapeError>(
        [&] { compute_loss(losses::CategoricalCrossentropy(from_logits), logits, from_logits, dense, l, d16, 1.0f); },
        {"loss", "gradient", "f16"}));
  }
  const MetricPlan plan = plan_metrics({Metric("accuracy")}, losses::SparseCategoricalCrossentropy(true), labels,
                                       Shape({5}));
  compute_loss(losses::SparseCategoricalCrossentropy(true), logits, true, labels, l, none, 1.0f);
  Tensor acc_small = Tensor::zeros({5});  // 20 bytes: not even the loss sum and count
  EXPECT_TRUE(test::throws_with<ShapeError>([&] { accumulate_metrics(plan, logits, true, labels, l, acc_small); },
                                            {"metrics", "accumulator", "3 doubles"}));
  EXPECT_TRUE(test::throws_with<ShapeError>(
      [&] { accumulate_metrics(plan, logits, true, labels.slice(0, 2), l, acc_small); }, {"metrics", "labels"}));
  Tensor acc = Tensor::zeros({6});
  accumulate_metrics(plan, logits, true, labels, l, acc);  // the right sizes still work
}

// The whole model: gradients of the mean loss (fused softmax head) with respect to every parameter.
TEST(NnGrad, ModelFusedSoftmaxHeadGrad) {
  Sequential m("mlp", 3);
  m.add(Input({6}));
  m.add(Dense(5, "", true, "glorot_uniform", "glorot_uniform"));
  m.add(Dense(4, "softmax"));
  m.compile(optim::SGD(0.1f), "sparse_categorical_crossentropy");
  const Tensor x = Tensor::from_vector(rnd(18, -1, 1, kSeed), {3, 6});
  const Tensor y = Tensor::from_ints({1, 3, 0}, {3});
  m.compute_gradients(x, y);
  const std::vector<float> analytic = m.gradients().to_vector();
  Tensor& params = m.parameters();
  check_entries(
      "parameters", params.to_vector(), analytic,
      [&](const std::vector<float>& v) { params.copy_from(Tensor::from_vector(v, params.shape())); },
      [&] { return m.evaluate(x, y).at("loss"); }, 1e-2, 1e-3, 1e-2);
}

}  // namespace
}  // namespace tilenet::nn
