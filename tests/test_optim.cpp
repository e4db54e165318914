// CPU: every optimizer against hand-computed updates for a few steps, clipping, schedules, the skip
// flag and inverse loss scale, state round trips and their errors, and the loss scaler.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "optim/loss_scale.h"
#include "optim/optimizers.h"
#include "test_util.h"

using namespace tilenet;
using namespace tilenet::optim;

namespace {

Tensor vec(const std::vector<float>& v) { return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}); }
Tensor scalar(float v) { return Tensor::from_vector({v}, {1}); }

void expect_near_all(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  const std::vector<float> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol + 1e-6 * std::fabs(want[i])) << "element " << i;
}

const std::vector<float> kP0 = {1.0f, -2.0f, 3.0f, 0.5f};
const std::vector<std::vector<float>> kGrads = {{0.5f, 0.25f, -1.0f, 0.0f}, {0.1f, -0.3f, 0.2f, 1.0f},
                                                {-0.4f, 0.6f, 0.05f, -2.0f}};

}  // namespace

TEST(OptimSgd, PlainStepIsLrTimesGrad) {
  SGD opt(0.1f);
  Tensor p = vec(kP0);
  opt.step(p, vec(kGrads[0]));
  expect_near_all(p, {0.95, -2.025, 3.1, 0.5});
  opt.step(p, vec(kGrads[1]));
  expect_near_all(p, {0.94, -1.995, 3.08, 0.4});
  EXPECT_EQ(opt.iterations(), 2);
  EXPECT_EQ(opt.applied_steps(), 2);
}

TEST(OptimSgd, MomentumKeepsKerasVelocity) {
  SGD opt(0.1f, 0.9f);
  Tensor p = vec({1.0f});
  opt.step(p, vec({0.5f}));  // m = -0.05, p = 0.95
  expect_near_all(p, {0.95});
  opt.step(p, vec({0.1f}));  // m = 0.9*-0.05 - 0.01 = -0.055, p = 0.895
  expect_near_all(p, {0.895});
  opt.step(p, vec({-0.4f}));  // m = 0.9*-0.055 + 0.04 = -0.0095, p = 0.8855
  expect_near_all(p, {0.8855});
  ASSERT_EQ(opt.state()[0].first, "momentum");
  expect_near_all(opt.state()[0].second, {-0.0095});
}

TEST(OptimSgd, Nesterov) {
  SGD opt(0.1f, 0.9f, /*nesterov=*/true);
  Tensor p = vec({1.0f});
  opt.step(p, vec({0.5f}));  // m = -0.05; p += 0.9*-0.05 - 0.05 = -0.095
  expect_near_all(p, {0.905});
  opt.step(p, vec({0.1f}));  // m = -0.055; p += 0.9*-0.055 - 0.01 = -0.0595
  expect_near_all(p, {0.8455});
}

TEST(OptimSgd, DecoupledWeightDecay) {
  SGD opt(0.1f, 0.0f, false, /*weight_decay=*/0.5f);
  Tensor p = vec({2.0f, -1.0f});
  opt.step(p, vec({1.0f, 0.0f}));  // p -= 0.1*0.5*p, then p -= 0.1*g
  expect_near_all(p, {2.0 - 0.1 - 0.1, -1.0 + 0.05});
}

namespace {

// Keras Adam in double, step by step.
struct AdamModel {
  double lr = 0.001, b1 = 0.9, b2 = 0.999, eps = 1e-7, wd = 0.0;
  bool amsgrad = false;
  std::vector<double> p, m, v, vh;
  int t = 0;
  explicit AdamModel(const std::vector<float>& p0) : p(p0.begin(), p0.end()), m(p0.size()), v(p0.size()), vh(p0.size()) {}
  void step(const std::vector<float>& g) {
    ++t;
    const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (std::size_t i = 0; i < p.size(); ++i) {
      p[i] -= lr * wd * p[i];
      m[i] += (g[i] - m[i]) * (1 - b1);
      v[i] += (double(g[i]) * g[i] - v[i]) * (1 - b2);
      vh[i] = std::max(vh[i], v[i]);
      p[i] -= m[i] * alpha / (std::sqrt(amsgrad ? vh[i] : v[i]) + eps);
    }
  }
};

// Keras RMSprop in double.
struct RmsModel {
  double lr = 0.001, rho = 0.9, mom = 0.0, eps = 1e-7;
  bool centered = false;
  std::vector<double> p, v, a, mo;
  explicit RmsModel(const std::vector<float>& p0) : p(p0.begin(), p0.end()), v(p0.size()), a(p0.size()), mo(p0.size()) {}
  void step(const std::vector<float>& g) {
    for (std::size_t i = 0; i < p.size(); ++i) {
      v[i] = rho * v[i] + (1 - rho) * double(g[i]) * g[i];
      a[i] = rho * a[i] + (1 - rho) * g[i];
      const double d = centered ? v[i] - a[i] * a[i] + eps : v[i] + eps;
      const double inc = lr * g[i] / std::sqrt(d);
      mo[i] = mom * mo[i] + inc;
      p[i] -= mom > 0 ? mo[i] : inc;
    }
  }
};

}  // namespace

TEST(OptimAdam, FirstStepByHand) {
  Adam opt;  // Keras defaults: lr 1e-3, betas 0.9/0.999, eps 1e-7
  Tensor p = vec({1.0f});
  opt.step(p, vec({0.5f}));
  // m = 0.05, v = 2.5e-4, alpha = 1e-3*sqrt(1e-3)/0.1, p -= m*alpha/(sqrt(v)+1e-7)
  const double alpha = 1e-3 * std::sqrt(1e-3) / 0.1;
  expect_near_all(p, {1.0 - 0.05 * alpha / (std::sqrt(2.5e-4) + 1e-7)}, 1e-8);
  EXPECT_NEAR(p.to_vector()[0], 0.99900000632, 1e-8);
}

TEST(OptimAdam, ThreeStepsMatchKerasFormulas) {
  for (bool amsgrad : {false, true}) {
    SCOPED_TRACE(amsgrad ? "amsgrad" : "adam");
    Adam opt(0.01f, 0.8f, 0.99f, 1e-7f, amsgrad);
    AdamModel ref(kP0);
    ref.lr = 0.01f, ref.b1 = 0.8f, ref.b2 = 0.99f, ref.amsgrad = amsgrad;
    Tensor p = vec(kP0);
    for (const auto& g : kGrads) {
      opt.step(p, vec(g));
      ref.step(g);
      expect_near_all(p, ref.p);
    }
    EXPECT_EQ(opt.state().size(), amsgrad ? 3u + 2 + 7 : 2u + 2 + 7);
  }
}

TEST(OptimAdamW, DecoupledDecayDefaults) {
  AdamW opt;  // Keras: lr 1e-3, weight_decay 0.004
  EXPECT_EQ(opt.name(), "AdamW");
  EXPECT_FLOAT_EQ(opt.config().weight_decay, 0.004f);
  AdamW opt2(0.01f, 0.1f);
  AdamModel ref(kP0);
  ref.lr = 0.01f, ref.wd = 0.1f;
  Tensor p = vec(kP0);
  for (const auto& g : kGrads) {
    opt2.step(p, vec(g));
    ref.step(g);
    expect_near_all(p, ref.p);
  }
}

TEST(OptimRmsprop, KerasDefaultsAndSteps) {
  RMSprop opt;
  EXPECT_FLOAT_EQ(opt.learning_rate(), 0.001f);
  EXPECT_FLOAT_EQ(opt.config().rho, 0.9f);
  EXPECT_FLOAT_EQ(opt.config().momentum, 0.0f);
  EXPECT_FLOAT_EQ(opt.config().epsilon, 1e-7f);
  EXPECT_FALSE(opt.config().centered);
  // First step by hand: v = 0.1*g^2, p -= lr*g/sqrt(v + eps) = lr*sign(g)*sqrt(10) approximately.
  Tensor p = vec({1.0f});
  opt.step(p, vec({0.5f}));
  expect_near_all(p, {1.0 - 1e-3 * 0.5 / std::sqrt(0.1 * 0.25 + 1e-7)}, 1e-8);
}

TEST(OptimRmsprop, MomentumAndCenteredMatchKerasFormulas) {
  for (int variant = 0; variant < 4; ++variant) {
    const bool centered = variant & 1;
    const float mom = (variant & 2) ? 0.5f : 0.0f;
    SCOPED_TRACE(testing::Message() << "centered=" << centered << " momentum=" << mom);
    RMSprop opt(0.01f, 0.8f, mom, 1e-7f, centered);
    RmsModel ref(kP0);
    ref.lr = 0.01f, ref.rho = 0.8f, ref.mom = mom, ref.centered = centered;
    Tensor p = vec(kP0);
    for (const auto& g : kGrads) {
      opt.step(p, vec(g));
      ref.step(g);
      expect_near_all(p, ref.p, 2e-6);
    }
  }
}

TEST(OptimFactory, NamesAndDefaults) {
  EXPECT_EQ(make_optimizer("sgd")->name(), "SGD");
  EXPECT_FLOAT_EQ(make_optimizer("SGD")->learning_rate(), 0.01f);
  EXPECT_EQ(make_optimizer("Adam")->name(), "Adam");
  EXPECT_EQ(make_optimizer("adamw", 0.5f)->name(), "AdamW");
  EXPECT_FLOAT_EQ(make_optimizer("adamw", 0.5f)->learning_rate(), 0.5f);
  EXPECT_FLOAT_EQ(make_optimizer("rmsprop")->learning_rate(), 0.001f);
  EXPECT_THROW(make_optimizer("adagrad"), ValueError);
  auto c = make_optimizer("rmsprop", 0.1f);
  c->set_clipnorm(2.0f);
  auto d = c->clone();
  EXPECT_EQ(d->name(), "RMSprop");
  EXPECT_FLOAT_EQ(d->learning_rate(), 0.1f);
  EXPECT_FLOAT_EQ(d->clipnorm(), 2.0f);
}

TEST(OptimArgs, BadHyperParametersAndOperands) {
  EXPECT_THROW(SGD(-1.0f), ValueError);
  EXPECT_THROW(SGD(0.1f, 1.5f), ValueError);
  EXPECT_THROW(SGD(0.1f, 0.0f, true), ValueError);
  EXPECT_THROW(Adam(0.1f, 1.0f), ValueError);
  EXPECT_THROW(RMSprop(0.1f, -0.1f), ValueError);
  SGD opt(0.1f);
  EXPECT_THROW(opt.set_clipnorm(-1.0f), ValueError);
  EXPECT_THROW(opt.set_learning_rate(NAN), ValueError);
  Tensor p = vec({1.0f, 2.0f});
  EXPECT_THROW(opt.step(p, vec({1.0f})), ShapeError);
  Tensor ip = Tensor::from_ints({1, 2}, {2});
  EXPECT_THROW(opt.step(ip, vec({1.0f, 2.0f})), DtypeError);
  EXPECT_THROW(opt.step(p, vec({1.0f, 2.0f}), StepControl{vec({1.0f, 1.0f}), Tensor()}), ShapeError);
  Tensor q = vec({1.0f, 2.0f, 3.0f});
  opt.step(p, vec({0.0f, 0.0f}));
  SGD mom(0.1f, 0.9f);
  mom.step(p, vec({0.0f, 0.0f}));
  EXPECT_THROW(mom.step(q, vec({0.0f, 0.0f, 0.0f})), ShapeError);  // one optimizer, one buffer
}

TEST(OptimClip, GlobalNormClipsAllElementsTogether) {
  SGD opt(1.0f);
  opt.set_clipnorm(1.0f);
  Tensor p = vec({0.0f, 0.0f});
  opt.step(p, vec({3.0f, 4.0f}));  // |g| = 5 -> g = (0.6, 0.8)
  expect_near_all(p, {-0.6, -0.8});
  opt.set_clipnorm(10.0f);  // below the limit: unchanged
  opt.step(p, vec({3.0f, 4.0f}));
  expect_near_all(p, {-3.6, -4.8});
}

TEST(OptimClip, NormIsTakenAfterUnscaling) {
  SGD opt(1.0f);
  opt.set_clipnorm(1.0f);
  Tensor p = vec({0.0f, 0.0f});
  // Scaled grads (6, 8) with inv_scale 0.5 are (3, 4): clipped to (0.6, 0.8).
  opt.step(p, vec({6.0f, 8.0f}), StepControl{scalar(0.5f), Tensor()});
  expect_near_all(p, {-0.6, -0.8});
  // With clipnorm 100 the unscaled gradient passes as is.
  opt.set_clipnorm(100.0f);
  opt.step(p, vec({6.0f, 8.0f}), StepControl{scalar(0.5f), Tensor()});
  expect_near_all(p, {-3.6, -4.8});
}

TEST(OptimControl, SkipLeavesEverythingAndBiasCorrectionCountsAppliedSteps) {
  Adam a(0.01f), b(0.01f);
  Tensor pa = vec(kP0), pb = vec(kP0);
  a.step(pa, vec(kGrads[0]));
  b.step(pb, vec(kGrads[0]));
  const std::vector<float> before = pa.to_vector();
  const auto slots_before = a.state()[0].second.to_vector();
  // A skipped step with garbage gradients changes nothing but iterations().
  a.step(pa, vec({NAN, INFINITY, 1e30f, -1.0f}), StepControl{scalar(1.0f), scalar(1.0f)});
  EXPECT_TRUE(test::all_equal(pa.to_vector(), before));
  EXPECT_TRUE(test::all_equal(a.state()[0].second.to_vector(), slots_before));
  EXPECT_EQ(a.iterations(), 2);
  EXPECT_EQ(a.applied_steps(), 1);
  // The next applied step uses t = 2, as for the optimizer that never saw the skipped one.
  a.step(pa, vec(kGrads[1]), StepControl{scalar(1.0f), scalar(0.0f)});
  b.step(pb, vec(kGrads[1]));
  EXPECT_TRUE(test::all_equal(pa.to_vector(), pb.to_vector()));
  EXPECT_EQ(a.applied_steps(), 2);
}

TEST(OptimControl, InvScaleMultipliesEveryGradient) {
  RMSprop a(0.01f, 0.9f, 0.5f, 1e-7f, true), b(0.01f, 0.9f, 0.5f, 1e-7f, true);
  Tensor pa = vec(kP0), pb = vec(kP0);
  for (const auto& g : kGrads) {
    std::vector<float> scaled = g;
    for (auto& x : scaled) x *= 1024.0f;  // a power of two: unscaling is exact
    a.step(pa, vec(scaled), StepControl{scalar(1.0f / 1024.0f), Tensor()});
    b.step(pb, vec(g));
  }
  EXPECT_TRUE(test::all_equal(pa.to_vector(), pb.to_vector()));
}
