// Gradient checks of every nn layer on the CPU (losses: test_nn_loss_grad.cpp): the analytical backward against central
// finite differences accumulated in double. Objective J = sum(w * layer(x)) for a random w, so
// dJ/dy = w feeds backward. Shapes are tiny; inputs stay away from ReLU kinks (a linear twin of the
// layer measures the pre-activations) and from max-pool ties (distinct, well-spaced inputs).
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

double dot(const std::vector<float>& a, const std::vector<double>& w) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * w[i];
  return s;
}

struct Harness {
  Sequential model{"grad", 7};
  std::vector<double> w;  // dJ/dy
  Tensor x;

  Harness(const Shape& in, const std::function<void(Sequential&)>& add, std::uint64_t seed = kSeed) {
    model.add(Input(in));
    add(model);
    model.build(in);
    model.compile(optim::SGD(0.0f), "mse");
    for (std::size_t i = 0; i < model.num_layers(); ++i) model.layer(i).set_needs_input_grad(true);
    const Shape out = with_batch(batch(), model.output_shape());
    const std::vector<float> wf = rnd(static_cast<std::size_t>(out.numel()), -1.0f, 1.0f, seed + 1);
    w.assign(wf.begin(), wf.end());
  }
  static std::int64_t batch() { return 3; }
  Layer& layer() { return model.layer(model.num_layers() - 1); }

  double objective() { return dot(forward_all(false).to_vector(), w); }
  // Runs every layer forward with training semantics (dropout masks and batch statistics).
  Tensor forward_all(bool /*unused*/) {
    Tensor h = x;
    for (std::size_t i = 0; i < model.num_layers(); ++i) h = model.layer(i).forward(h, true);
    return h;
  }
  // Analytic: returns dx; parameter gradients land in the model's gradient buffer.
  std::vector<float> backward() {
    const Tensor y = forward_all(true);
    std::vector<float> wf(w.begin(), w.end());
    Tensor g = Tensor::from_vector(wf, y.shape());
    for (std::size_t i = model.num_layers(); i-- > 0;) g = model.layer(i).backward(g);
    return g.to_vector();
  }

  void check_all(double eps = 1e-2, double atol = 2e-3, double rtol = 2e-2) {
    const std::vector<float> dx = backward();
    // Snapshot every parameter gradient before the finite differences run more forwards.
    std::vector<std::pair<Param*, std::vector<float>>> pg;
    for (std::size_t i = 0; i < model.num_layers(); ++i)
      for (Param& p : model.layer(i).params())
        if (p.trainable) pg.emplace_back(&p, p.grad.to_vector());
    const Shape xs = x.shape();
    check_entries(
        "dx", x.to_vector(), dx, [&](const std::vector<float>& v) { x = Tensor::from_vector(v, xs); },
        [&] { return objective(); }, eps, atol, rtol);
    for (auto& [p, g] : pg) {
      Param* pp = p;
      check_entries(
          p->name, pp->value.to_vector(), g,
          [pp](const std::vector<float>& v) { pp->value.copy_from(Tensor::from_vector(v, pp->shape)); },
          [&] { return objective(); }, eps, atol, rtol);
    }
  }
};

// Minimum |pre-activation| of a linear twin: keeps finite differences off the ReLU kink.
float min_abs(const Tensor& t) {
  float m = INFINITY;
  for (float v : t.to_vector()) m = std::min(m, std::fabs(v));
  return m;
}

// Draws inputs (deterministically, trying seeds in turn) until every pre-activation of the linear
// twin is at least `margin` from zero.
bool away_from_kinks(Harness& h, Harness& twin, const Shape& xs, float margin) {
  for (std::uint64_t s = kSeed; s < kSeed + 200; ++s) {
    h.x = twin.x = Tensor::from_vector(rnd(static_cast<std::size_t>(xs.numel()), -1, 1, s), xs);
    if (min_abs(twin.forward_all(true)) > margin) return true;
  }
  return false;
}

TEST(NnGrad, DenseLinearGrad) {
  Harness h({5}, [](Sequential& m) { m.add(Dense(4)); });
  h.x = Tensor::from_vector(rnd(15, -1, 1, kSeed), {3, 5});
  h.check_all();
}

TEST(NnGrad, DenseReluGrad) {
  const auto add = [](const std::string& act) { return [act](Sequential& m) { m.add(Dense(4, act, true, "glorot_uniform", "glorot_uniform")); }; };
  Harness h({5}, add("relu"));
  Harness twin({5}, add(""));
  ASSERT_TRUE(away_from_kinks(h, twin, {3, 5}, 0.05f));
  h.check_all();
}

TEST(NnGrad, DenseSoftmaxGrad) {
  Harness h({6}, [](Sequential& m) { m.add(Dense(5, "softmax")); });
  h.x = Tensor::from_vector(rnd(18, -1, 1, kSeed), {3, 6});
  h.check_all();
}

TEST(NnGrad, DenseOnRank3InputGrad) {
  Harness h({2, 4}, [](Sequential& m) { m.add(Dense(3)); });
  h.x = Tensor::from_vector(rnd(24, -1, 1, kSeed), {3, 2, 4});
  h.check_all();
}

TEST(NnGrad, FlattenDenseGrad) {
  Harness h({2, 2, 3}, [](Sequential& m) {
    m.add(Flatten());
    m.add(Dense(3));
  });
  h.x = Tensor::from_vector(rnd(36, -1, 1, kSeed), {3, 2, 2, 3});
  h.check_all();
}

TEST(NnGrad, ActivationReluGrad) {
  Harness h({7}, [](Sequential& m) { m.add(ReLU()); });
  std::vector<float> v = rnd(21, 0.1f, 1.0f, kSeed);
  for (std::size_t i = 0; i < v.size(); i += 2) v[i] = -v[i];  // both signs, all |x| >= 0.1
  h.x = Tensor::from_vector(v, {3, 7});
  h.check_all();
}

TEST(NnGrad, SoftmaxLayerGrad) {
  Harness h({6}, [](Sequential& m) { m.add(Softmax()); });
  h.x = Tensor::from_vector(rnd(18, -2, 2, kSeed), {3, 6});
  h.check_all();
}

TEST(NnGrad, DropoutGrad) {
  Harness h({16}, [](Sequential& m) { m.add(Dropout(0.4f)); });
  h.x = Tensor::from_vector(rnd(48, -1, 1, kSeed), {3, 16});
  h.check_all();
  // Some elements are dropped, the rest scaled by 1/(1-rate).
  const std::vector<float> y = h.forward_all(true).to_vector(), x = h.x.to_vector();
  int zeros = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 0.0f) ++zeros;
    else EXPECT_NEAR(y[i], x[i] / 0.6f, 1e-6f);
  }
  EXPECT_GT(zeros, 5);
  EXPECT_LT(zeros, 40);
}

TEST(NnGrad, Conv2DValidGrad) {
  Harness h({5, 5, 2}, [](Sequential& m) { m.add(Conv2D(3, 3)); });
  h.x = Tensor::from_vector(rnd(150, -1, 1, kSeed), {3, 5, 5, 2});
  h.check_all();
}

TEST(NnGrad, Conv2DSameStride2Grad) {
  // Keras "same" with stride 2 pads asymmetrically: 6 -> 3 with a 3x3 window pads 0 top, 1 bottom.
  Harness h({6, 6, 2}, [](Sequential& m) { m.add(Conv2D(2, 3, 2, "same")); });
  const auto& opt = static_cast<Conv2D&>(h.layer()).options();
  EXPECT_EQ(opt.pad_top, 0);
  EXPECT_EQ(opt.pad_bottom, 1);
  EXPECT_EQ(h.model.output_shape(), (Shape{3, 3, 2}));
  h.x = Tensor::from_vector(rnd(216, -1, 1, kSeed), {3, 6, 6, 2});
  h.check_all();
}

TEST(NnGrad, Conv2DReluGrad) {
  const auto add = [](const std::string& act) {
    return [act](Sequential& m) { m.add(Conv2D(2, {2, 3}, 1, "same", act, true, "glorot_uniform", "glorot_uniform")); };
  };
  Harness h({4, 4, 2}, add("relu"), kSeed + 11);
  Harness twin({4, 4, 2}, add(""), kSeed + 11);
  ASSERT_TRUE(away_from_kinks(h, twin, {3, 4, 4, 2}, 0.02f));
  h.check_all(5e-3);
}

// Distinct inputs spaced 0.05 apart: no ties within a pooling window, even after perturbation.
Tensor spaced(const Shape& s, std::uint64_t seed) {
  std::vector<float> v(static_cast<std::size_t>(s.numel()));
  std::iota(v.begin(), v.end(), 0.0f);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  for (float& f : v) f = f * 0.05f - 1.0f;
  return Tensor::from_vector(v, s);
}

TEST(NnGrad, MaxPool2DGrad) {
  Harness h({4, 5, 2}, [](Sequential& m) { m.add(MaxPool2D(2, 2, "same")); });
  h.x = spaced({3, 4, 5, 2}, kSeed);
  h.check_all(1e-3);
}

TEST(NnGrad, MaxPool2DOverlappingGrad) {
  Harness h({5, 5, 1}, [](Sequential& m) { m.add(MaxPool2D(3, 2)); });
  h.x = spaced({3, 5, 5, 1}, kSeed + 1);
  h.check_all(1e-3);
}

TEST(NnGrad, AveragePooling2DGrad) {
  Harness h({5, 4, 2}, [](Sequential& m) { m.add(AveragePooling2D(2, 2, "same")); });
  h.x = Tensor::from_vector(rnd(120, -1, 1, kSeed), {3, 5, 4, 2});
  h.check_all();
}

TEST(NnGrad, GlobalAveragePooling2DGrad) {
  Harness h({3, 2, 4}, [](Sequential& m) { m.add(GlobalAveragePooling2D()); });
  h.x = Tensor::from_vector(rnd(72, -1, 1, kSeed), {3, 3, 2, 4});
  h.check_all();
}

TEST(NnGrad, BatchNormalizationGrad) {
  Harness h({4}, [](Sequential& m) { m.add(BatchNormalization()); });
  h.x = Tensor::from_vector(rnd(12, -2, 2, kSeed), {3, 4});
  h.check_all(1e-2, 3e-3, 3e-2);
}

TEST(NnGrad, BatchNormalizationNhwcGrad) {
  Harness h({2, 2, 3}, [](Sequential& m) { m.add(BatchNormalization()); });
  h.x = Tensor::from_vector(rnd(36, -2, 2, kSeed), {3, 2, 2, 3});
  h.check_all(1e-2, 3e-3, 3e-2);
}

TEST(NnGrad, SmallCnnStackGrad) {
  Harness h({6, 6, 1}, [](Sequential& m) {
    m.add(Conv2D(2, 3, 1, "same"));
    m.add(AveragePooling2D(2));
    m.add(BatchNormalization());
    m.add(Flatten());
    m.add(Dense(3));
  });
  h.x = Tensor::from_vector(rnd(108, -1, 1, kSeed), {3, 6, 6, 1});
  h.check_all(1e-2, 3e-3, 3e-2);
}

}  // namespace
}  // namespace tilenet::nn