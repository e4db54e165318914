// CPU: learning-rate schedules, optimizer state round trips and their validation, the loss scaler.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/loss_scale.h"
#include "optim/optimizers.h"
#include "test_util.h"

using namespace tilenet;
using namespace tilenet::optim;

namespace {

Tensor vec(const std::vector<float>& v) { return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}); }

std::vector<float> grads_for(int step, std::size_t n) {
  return test::random_uniform(n, -1.0f, 1.0f, test::kSeed + static_cast<std::uint64_t>(step));
}

Tensor find(const std::vector<std::pair<std::string, Tensor>>& s, const std::string& name) {
  for (const auto& [k, t] : s)
    if (k == name) return t;
  return Tensor();
}

std::vector<std::pair<std::string, Tensor>> without(std::vector<std::pair<std::string, Tensor>> s,
                                                    const std::string& name) {
  for (auto it = s.begin(); it != s.end(); ++it)
    if (it->first == name) {
      s.erase(it);
      break;
    }
  return s;
}

std::vector<std::pair<std::string, Tensor>> replaced(std::vector<std::pair<std::string, Tensor>> s,
                                                     const std::string& name, Tensor t) {
  for (auto& [k, v] : s)
    if (k == name) v = t;
  return s;
}

}  // namespace

TEST(OptimSchedule, StepDecay) {
  StepDecay s(0.1f, 10, 0.5f);
  EXPECT_FLOAT_EQ(s.lr(0), 0.1f);
  EXPECT_FLOAT_EQ(s.lr(9), 0.1f);
  EXPECT_FLOAT_EQ(s.lr(10), 0.05f);
  EXPECT_FLOAT_EQ(s.lr(35), 0.0125f);
  EXPECT_THROW(StepDecay(0.1f, 0), ValueError);
}

TEST(OptimSchedule, ExponentialDecay) {
  ExponentialDecay smooth(1.0f, 100, 0.5f), stair(1.0f, 100, 0.5f, true);
  EXPECT_FLOAT_EQ(smooth.lr(0), 1.0f);
  EXPECT_FLOAT_EQ(smooth.lr(50), static_cast<float>(std::pow(0.5, 0.5)));
  EXPECT_FLOAT_EQ(smooth.lr(200), 0.25f);
  EXPECT_FLOAT_EQ(stair.lr(150), 0.5f);
  EXPECT_FLOAT_EQ(stair.lr(99), 1.0f);
}

TEST(OptimSchedule, CosineDecayWithAndWithoutWarmup) {
  CosineDecay plain(1.0f, 100, 0.1f);
  EXPECT_FLOAT_EQ(plain.lr(0), 1.0f);
  EXPECT_FLOAT_EQ(plain.lr(50), 0.55f);  // (1-0.1)*0.5 + 0.1
  EXPECT_FLOAT_EQ(plain.lr(100), 0.1f);
  EXPECT_FLOAT_EQ(plain.lr(1000), 0.1f);
  // Keras: linear from 0 to 1e-3 over 10 steps, then cosine over 100 steps.
  CosineDecay warm(0.0f, 100, 0.0f, 1e-3f, 10);
  EXPECT_FLOAT_EQ(warm.lr(0), 0.0f);
  EXPECT_FLOAT_EQ(warm.lr(5), 5e-4f);
  EXPECT_FLOAT_EQ(warm.lr(10), 1e-3f);
  EXPECT_NEAR(warm.lr(60), 5e-4f, 1e-9);
  EXPECT_NEAR(warm.lr(110), 0.0f, 1e-12);
  EXPECT_NEAR(warm.lr(500), 0.0f, 1e-12);
}

TEST(OptimSchedule, OptimizerEvaluatesScheduleAtIterations) {
  SGD opt(0.1f);
  opt.set_schedule(std::make_shared<StepDecay>(1.0f, 1, 0.5f));  // 1, 0.5, 0.25, ...
  EXPECT_FLOAT_EQ(opt.learning_rate(), 1.0f);
  EXPECT_THROW(opt.set_learning_rate(0.3f), ValueError);
  Tensor p = vec({0.0f});
  opt.step(p, vec({1.0f}));
  opt.step(p, vec({1.0f}));
  opt.step(p, vec({1.0f}), StepControl{Tensor(), vec({1.0f})});  // skipped: lr 0.25 unused
  opt.step(p, vec({1.0f}));                                      // lr 0.125
  EXPECT_NEAR(p.to_vector()[0], -(1.0 + 0.5 + 0.125), 1e-7);
  EXPECT_FLOAT_EQ(opt.learning_rate(), 0.125f);
  opt.set_schedule(nullptr);
  opt.set_learning_rate(0.3f);
  EXPECT_FLOAT_EQ(opt.learning_rate(), 0.3f);
}

// A step reading StepControl::lr (the CUDA-graph path) applies exactly what a step taking the
// schedule's value does: stage_learning_rate() evaluates the schedule at iterations() each time.
TEST(OptimSchedule, StagedLearningRateFollowsTheSchedule) {
  for (const char* name : {"sgd", "adam", "rmsprop"}) {
    SCOPED_TRACE(name);
    auto by_value = make_optimizer(name, 0.05f), staged = make_optimizer(name, 0.05f);
    auto sched = std::make_shared<CosineDecay>(0.05f, 4, 0.1f, 0.1f, 2);
    by_value->set_schedule(sched);
    staged->set_schedule(sched);
    Tensor p1 = vec(test::random_uniform(37, -1.0f, 1.0f, test::kSeed)), p2 = p1.clone();
    for (int step = 0; step < 7; ++step) {
      const Tensor g = vec(grads_for(step, 37));
      by_value->step(p1, g);
      StepControl control;
      control.lr = staged->stage_learning_rate(Device::cpu());
      EXPECT_EQ(control.lr.item(), sched->lr(step)) << "step " << step;
      EXPECT_EQ(staged->learning_rate(), by_value->learning_rate());
      staged->step(p2, g, control);
      ASSERT_TRUE(test::all_equal(p2.to_vector(), p1.to_vector())) << "step " << step;
    }
    EXPECT_EQ(staged->iterations(), 7);
    // The staged value is what the step uses, whatever the schedule says.
    StepControl control;
    control.lr = Tensor::from_vector({0.0f}, {1});
    const std::vector<float> before = p2.to_vector();
    if (std::string(name) == "sgd") {
      staged->step(p2, vec(grads_for(9, 37)), control);
      EXPECT_TRUE(test::all_equal(p2.to_vector(), before)) << "lr 0 must leave the parameters";
    }
    // A wrong scalar is refused, naming the field.
    control.lr = Tensor::from_vector({0.1f, 0.2f}, {2});
    try {
      staged->step(p2, vec(grads_for(9, 37)), control);
      ADD_FAILURE() << "no throw";
    } catch (const ShapeError& e) {
      EXPECT_NE(std::string(e.what()).find("StepControl::lr"), std::string::npos) << e.what();
    }
  }
}

TEST(OptimState, RoundTripContinuesBitwise) {
  const std::size_t n = 37;
  const std::vector<float> p0 = test::random_uniform(n, -1.0f, 1.0f, test::kSeed);
  std::vector<std::unique_ptr<Optimizer>> firsts, seconds;
  firsts.push_back(std::make_unique<SGD>(0.1f, 0.9f, true));
  firsts.push_back(std::make_unique<Adam>(0.01f, 0.9f, 0.999f, 1e-7f, true));
  firsts.push_back(std::make_unique<AdamW>(0.01f));
  firsts.push_back(std::make_unique<RMSprop>(0.01f, 0.9f, 0.5f, 1e-7f, true));
  for (auto& a : firsts) {
    SCOPED_TRACE(a->name());
    a->set_clipnorm(0.75f);
    Tensor pa = vec(p0);
    for (int s = 0; s < 3; ++s) a->step(pa, vec(grads_for(s, n)));
    // A fresh optimizer of the same kind, other hyper-parameter values: load restores them.
    auto b = a->clone();
    b->set_clipnorm(0.0f);
    b->load_state(a->state());
    EXPECT_FLOAT_EQ(b->clipnorm(), 0.75f);
    EXPECT_EQ(b->iterations(), 3);
    Tensor pb = pa.clone();
    for (int s = 3; s < 6; ++s) {
      a->step(pa, vec(grads_for(s, n)));
      b->step(pb, vec(grads_for(s, n)));
    }
    EXPECT_TRUE(test::all_equal(pa.to_vector(), pb.to_vector()));
  }
}

TEST(OptimState, LoadBeforeFirstStepAndRestoredHyperParameters) {
  RMSprop a(0.05f, 0.8f);
  RMSprop b(0.001f);
  b.load_state(a.state());  // no slots yet: fine
  EXPECT_FLOAT_EQ(b.learning_rate(), 0.05f);
  EXPECT_FLOAT_EQ(b.config().rho, 0.8f);
  auto st = a.state();
  EXPECT_FALSE(find(st, "velocity").defined());
  EXPECT_EQ(find(st, "step").to_ints()[0], 0);
}

// What a captured CUDA graph of the step bakes in (clipnorm, hyper-parameters, loaded state)
// moves config_version(), which is part of the graph's key; a refused load moves nothing.
TEST(OptimState, ConfigVersionMovesWithWhatAGraphBakesIn) {
  RMSprop a(0.05f, 0.8f);
  RMSprop b(0.001f);
  const std::uint64_t v0 = b.config_version();
  b.set_clipnorm(1.0f);
  const std::uint64_t v1 = b.config_version();
  EXPECT_NE(v1, v0);
  b.load_state(a.state());
  const std::uint64_t v2 = b.config_version();
  EXPECT_NE(v2, v1);
  Adam c(1e-3f);
  EXPECT_THROW(b.load_state(c.state()), ValueError);
  EXPECT_EQ(b.config_version(), v2);
  (void)b.learning_rate();
  EXPECT_EQ(b.config_version(), v2);  // reading changes nothing
}

// prepare() makes the state a step would make (zeroed), so a captured step finds it in place; a
// step after it behaves exactly like a first step without it.
TEST(OptimState, PrepareCreatesZeroedStateOnce) {
  const Tensor g = Tensor::from_vector({0.5f, -1.0f, 2.0f}, {3});
  RMSprop a(0.01f), b(0.01f);
  Tensor pa = Tensor::from_vector({1.0f, 2.0f, 3.0f}, {3}), pb = pa.clone();
  EXPECT_FALSE(find(a.state(), "velocity").defined());
  a.prepare(pa);
  const Tensor v = find(a.state(), "velocity");
  ASSERT_TRUE(v.defined());
  EXPECT_TRUE(test::all_equal(v.to_vector(), {0, 0, 0}));
  EXPECT_EQ(find(a.state(), "step").to_ints()[0], 0);
  a.prepare(pa);  // idempotent: the same slot
  EXPECT_EQ(find(a.state(), "velocity").raw_data(), v.raw_data());
  a.step(pa, g);
  b.step(pb, g);
  EXPECT_TRUE(test::all_equal(pa.to_vector(), pb.to_vector()));
  EXPECT_EQ(a.iterations(), 1);
}

TEST(OptimState, LoadRejectsMismatchesWithoutChangingAnything) {
  Adam a(0.01f);
  Tensor p = vec({1.0f, 2.0f, 3.0f});
  a.step(p, vec({0.1f, 0.2f, 0.3f}));
  const auto good = a.state();
  Adam b(0.02f);
  EXPECT_THROW(b.load_state(without(good, "velocity")), ValueError);     // slots: all or none
  EXPECT_THROW(b.load_state(without(good, "hyper/beta_1")), ValueError);  // missing entry
  auto extra = good;
  extra.emplace_back("bogus", vec({1.0f}));
  EXPECT_THROW(b.load_state(extra), ValueError);  // unexpected entry
  auto dup = good;
  dup.push_back(good[0]);
  EXPECT_THROW(b.load_state(dup), ValueError);
  EXPECT_THROW(b.load_state(replaced(good, "velocity", vec({1.0f, 2.0f}))), ShapeError);
  EXPECT_THROW(b.load_state(replaced(good, "step", vec({1.0f}))), DtypeError);
  EXPECT_THROW(b.load_state(replaced(good, "hyper/beta_1", vec({1.5f}))), ValueError);
  EXPECT_THROW(b.load_state(replaced(good, "hyper/amsgrad", vec({1.0f}))), ValueError);
  EXPECT_THROW(b.load_state(replaced(good, "hyper/epsilon", vec({1.0f, 2.0f}))), ShapeError);
  EXPECT_THROW(SGD(0.1f).load_state(good), ValueError);  // another optimizer's names
  EXPECT_FLOAT_EQ(b.learning_rate(), 0.02f);              // nothing applied
  EXPECT_EQ(b.iterations(), 0);
  // Slots sized for another buffer than the one this optimizer already serves.
  Adam c(0.01f);
  Tensor q = vec({1.0f, 2.0f});
  c.step(q, vec({0.1f, 0.2f}));
  EXPECT_THROW(c.load_state(good), ShapeError);
}

// restore() puts a checkpoint's (or another device's) scale and clean-step count in place, so the
// next doubling comes when it would have; clamped to the options, refused when meaningless.
TEST(LossScaler, RestoreContinuesTheCleanRun) {
  LossScaleOptions o;
  o.initial_scale = 8.0f;
  o.growth_interval = 4;
  o.max_scale = 64.0f;
  LossScaler s(Device::cpu(), o);
  const Tensor ok = vec({1.0f, 2.0f});
  for (int i = 0; i < 2; ++i) {
    s.check(ok);
    s.update();
  }
  EXPECT_EQ(s.good_steps(), 2);
  LossScaler t(Device::cpu(), o);
  t.restore(s.current_scale(), s.good_steps());
  EXPECT_FLOAT_EQ(t.inv_scale().item(), 0.125f);
  for (int i = 0; i < 2; ++i) {
    t.check(ok);
    t.update();
  }
  EXPECT_FLOAT_EQ(t.current_scale(), 16.0f);  // 2 restored + 2 new clean steps: doubled
  EXPECT_EQ(t.good_steps(), 0);
  t.restore(1e9f, 100);  // saved under other options: clamped
  EXPECT_FLOAT_EQ(t.current_scale(), 64.0f);
  EXPECT_EQ(t.good_steps(), 3);
  EXPECT_THROW(t.restore(0.0f, 0), ValueError);
  EXPECT_THROW(t.restore(NAN, 0), ValueError);
  EXPECT_THROW(t.restore(8.0f, -1), ValueError);
  EXPECT_FLOAT_EQ(t.current_scale(), 64.0f);  // a refused restore changes nothing
}

TEST(LossScaler, SkipsHalvesAndGrows) {
  LossScaleOptions o;
  o.initial_scale = 8.0f;
  o.growth_interval = 3;
  o.min_scale = 2.0f;
  o.max_scale = 16.0f;
  LossScaler s(Device::cpu(), o);
  EXPECT_FLOAT_EQ(s.current_scale(), 8.0f);
  EXPECT_FLOAT_EQ(s.inv_scale().item(), 0.125f);
  Tensor ok = vec({1.0f, -2.0f, 3.0f}), bad = vec({1.0f, NAN, 3.0f}), inf = vec({-INFINITY, 0.0f, 0.0f});
  s.check(bad);
  EXPECT_EQ(s.skip().item(), 1.0f);
  s.update();
  EXPECT_FLOAT_EQ(s.current_scale(), 4.0f);
  s.check(inf);
  s.update();
  s.check(inf);
  s.update();
  EXPECT_FLOAT_EQ(s.current_scale(), 2.0f);  // clamped at min_scale
  EXPECT_EQ(s.skipped_steps(), 3);
  for (int i = 0; i < 2; ++i) {
    s.check(ok);
    EXPECT_EQ(s.skip().item(), 0.0f);
    s.update();
  }
  EXPECT_FLOAT_EQ(s.current_scale(), 2.0f);  // 2 clean steps: not yet
  s.check(bad);  // an overflow resets the clean run
  s.update();
  for (int i = 0; i < 3; ++i) {
    s.check(ok);
    s.update();
  }
  EXPECT_FLOAT_EQ(s.current_scale(), 4.0f);
  EXPECT_FLOAT_EQ(s.inv_scale().item(), 0.25f);
  for (int i = 0; i < 9; ++i) {
    s.check(ok);
    s.update();
  }
  EXPECT_FLOAT_EQ(s.current_scale(), 16.0f);  // clamped at max_scale
  EXPECT_EQ(s.skipped_steps(), 4);
  s.reset_counters();
  EXPECT_EQ(s.skipped_steps(), 0);
}

TEST(LossScaler, KerasDefaultsScaleAndUnscale) {
  LossScaler s(Device::cpu());
  EXPECT_FLOAT_EQ(s.current_scale(), 32768.0f);
  EXPECT_EQ(s.options().growth_interval, 2000);
  Tensor dloss = vec({1.0f, -0.5f});
  s.scale_(dloss);
  EXPECT_TRUE(test::all_equal(dloss.to_vector(), {32768.0f, -16384.0f}));
  Tensor h = vec({1.0f, 2.0f}).to(DType::f16);
  s.scale_(h);
  EXPECT_TRUE(test::all_equal(h.to_vector(), {32768.0f, INFINITY}));  // 65536 overflows f16
  s.check_and_unscale(dloss);
  EXPECT_TRUE(test::all_equal(dloss.to_vector(), {1.0f, -0.5f}));
  EXPECT_EQ(s.skip().item(), 0.0f);
  EXPECT_THROW(LossScaler(Device::cpu(), LossScaleOptions{0.0f}), ValueError);
  EXPECT_THROW(s.check(Tensor::from_ints({1}, {1})), DtypeError);
}

TEST(LossScaler, DrivesOptimizerSkips) {
  LossScaler s(Device::cpu());
  SGD opt(1.0f);
  Tensor p = vec({0.0f, 0.0f});
  Tensor g = vec({32768.0f, INFINITY});
  s.check(g);
  opt.step(p, g, s.control());
  s.update();
  EXPECT_TRUE(test::all_equal(p.to_vector(), {0.0f, 0.0f}));
  g = vec({32768.0f * 2.0f, -16384.0f});  // after halving, the scale is 16384
  s.check(g);
  opt.step(p, g, s.control());
  s.update();
  EXPECT_TRUE(test::all_equal(p.to_vector(), {-4.0f, 1.0f}));
  EXPECT_EQ(s.skipped_steps(), 1);
  EXPECT_EQ(opt.iterations(), 2);
}
