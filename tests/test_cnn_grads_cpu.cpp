// CPU: every backward of pooling, softmax / cross-entropy, batch norm and dropout against central
// finite differences, in double on the references. Each checks L(x) = sum(w * f(x)) for random w.
// Max-pool inputs are distinct values 0.01 apart, far beyond the step, so no window's argmax moves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/lrn.h"
#include "kernels/pool2d.h"
#include "kernels/softmax.h"
#include "test_util.h"

using namespace tilenet;
using namespace tilenet::kernels;
using Vec = std::vector<double>;

namespace {

Vec random_vec(std::size_t n, double lo, double hi, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  Vec v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Compares `analytic` with central differences of `loss` at x, element by element.
::testing::AssertionResult gradient_matches(const std::function<double(const Vec&)>& loss, const Vec& x,
                                            const Vec& analytic, double h = 1e-5, double tol = 1e-6) {
  if (analytic.size() != x.size()) return ::testing::AssertionFailure() << "gradient size " << analytic.size();
  Vec xp = x;
  double ref_norm = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    xp[i] = x[i] + h;
    const double lp = loss(xp);
    xp[i] = x[i] - h;
    const double lm = loss(xp);
    xp[i] = x[i];
    const double numeric = (lp - lm) / (2 * h);
    ref_norm += numeric * numeric;
    if (!(std::fabs(numeric - analytic[i]) <= tol * (1 + std::fabs(numeric))))
      return ::testing::AssertionFailure() << "element " << i << ": analytic " << analytic[i] << ", numeric "
                                           << numeric;
  }
  if (ref_norm == 0) return ::testing::AssertionFailure() << "the numeric gradient is zero everywhere";
  return ::testing::AssertionSuccess();
}

// Distinct values 0.01 apart in random order.
Vec distinct_values(std::size_t n, std::uint64_t seed) {
  Vec v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0.01 * static_cast<double>(i) - 0.005 * static_cast<double>(n);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  return v;
}

Pool2dShape overlapping_asymmetric() {
  Pool2dShape sh;
  sh.n = 2, sh.h = 7, sh.w = 6, sh.c = 3;
  sh.r = 3, sh.s = 3;
  sh.stride_h = 2, sh.stride_w = 2;
  sh.pad_top = 1, sh.pad_left = 0, sh.pad_bottom = 1, sh.pad_right = 2;
  return sh;
}

}  // namespace

TEST(PoolGrad, MaxPoolGrad) {
  SCOPED_TRACE(test::kSeed);
  for (const Pool2dShape sh : {overlapping_asymmetric(), Pool2dShape{1, 5, 5, 2, 2, 2, 1, 1, 1, 1, 0, 0}}) {
    const Vec x = distinct_values(sh.input_size(), test::kSeed);
    const Vec w = random_vec(sh.output_size(), -1, 1, test::kSeed + 1);
    auto loss = [&](const Vec& xv) {
      Vec y(sh.output_size());
      max_pool2d_forward_ref(sh, xv.data(), y.data(), nullptr);
      return dot(w, y);
    };
    Vec y(sh.output_size()), dx(sh.input_size());
    std::vector<std::int32_t> idx(sh.output_size());
    max_pool2d_forward_ref(sh, x.data(), y.data(), idx.data());
    max_pool2d_backward_ref(sh, w.data(), idx.data(), dx.data());
    EXPECT_TRUE(gradient_matches(loss, x, dx));
  }
}

TEST(PoolGrad, AvgPoolGrad) {
  SCOPED_TRACE(test::kSeed);
  Pool2dShape s2 = overlapping_asymmetric();
  s2.r = 2, s2.s = 4, s2.stride_h = 1, s2.stride_w = 3, s2.pad_top = 0, s2.pad_right = 3;
  for (const Pool2dShape& sh : {overlapping_asymmetric(), s2}) {
    const Vec x = random_vec(sh.input_size(), -2, 2, test::kSeed);
    const Vec w = random_vec(sh.output_size(), -1, 1, test::kSeed + 1);
    auto loss = [&](const Vec& xv) {
      Vec y(sh.output_size());
      avg_pool2d_forward_ref(sh, xv.data(), y.data());
      return dot(w, y);
    };
    Vec dx(sh.input_size());
    avg_pool2d_backward_ref(sh, w.data(), dx.data());
    EXPECT_TRUE(gradient_matches(loss, x, dx));
  }
}

TEST(PoolGrad, GlobalAvgPoolGrad) {
  const std::int64_t n = 2, hw = 5, c = 3;
  const Vec x = random_vec(n * hw * c, -2, 2, test::kSeed);
  const Vec w = random_vec(n * c, -1, 1, test::kSeed + 1);
  auto loss = [&](const Vec& xv) {
    Vec y(n * c);
    global_avg_pool_forward_ref(xv.data(), y.data(), n, hw, c);
    return dot(w, y);
  };
  Vec dx(n * hw * c);
  global_avg_pool_backward_ref(w.data(), dx.data(), n, hw, c);
  EXPECT_TRUE(gradient_matches(loss, x, dx));
}

TEST(SoftmaxGrad, SoftmaxAndLogSoftmaxGrad) {
  const std::int64_t rows = 3, cols = 5;
  for (bool log : {false, true}) {
    SCOPED_TRACE(log ? "log_softmax" : "softmax");
    const Vec x = random_vec(rows * cols, -3, 3, test::kSeed);
    const Vec w = random_vec(rows * cols, -1, 1, test::kSeed + 1);
    auto loss = [&](const Vec& xv) {
      Vec y(rows * cols);
      softmax_forward_ref(xv.data(), y.data(), rows, cols, log);
      return dot(w, y);
    };
    Vec y(rows * cols), dx(rows * cols);
    softmax_forward_ref(x.data(), y.data(), rows, cols, log);
    softmax_backward_ref(y.data(), w.data(), dx.data(), rows, cols, log);
    EXPECT_TRUE(gradient_matches(loss, x, dx));
  }
}

TEST(SoftmaxGrad, CrossEntropyGrad) {
  const double scale = 0.25;  // e.g. 1 / batch
  for (std::int64_t cols : {1, 2, 7}) {
    SCOPED_TRACE(cols);
    const std::int64_t rows = 4;
    const Vec x = random_vec(rows * cols, -4, 4, test::kSeed);
    std::vector<std::int32_t> labels(rows);
    for (std::int64_t r = 0; r < rows; ++r) labels[r] = static_cast<std::int32_t>((r * 3) % cols);
    auto loss = [&](const Vec& xv) {
      Vec l(rows);
      softmax_cross_entropy_ref(xv.data(), labels.data(), l.data(), nullptr, rows, cols, scale);
      double s = 0;
      for (double v : l) s += v;
      return scale * s;
    };
    Vec l(rows), dx(rows * cols);
    softmax_cross_entropy_ref(x.data(), labels.data(), l.data(), dx.data(), rows, cols, scale);
    if (cols == 1) {
      for (double g : dx) EXPECT_EQ(g, 0.0);  // one class: nothing to learn
      continue;
    }
    EXPECT_TRUE(gradient_matches(loss, x, dx));
  }
}

TEST(SoftmaxGrad, CrossEntropySoftGrad) {
  const std::int64_t rows = 3, cols = 6;
  const double scale = 1.5;
  const Vec x = random_vec(rows * cols, -4, 4, test::kSeed);
  const Vec t = random_vec(rows * cols, 0, 0.4, test::kSeed + 2);  // rows need not sum to one
  auto loss = [&](const Vec& xv) {
    Vec l(rows);
    softmax_cross_entropy_soft_ref(xv.data(), t.data(), l.data(), nullptr, rows, cols, scale);
    return scale * (l[0] + l[1] + l[2]);
  };
  Vec l(rows), dx(rows * cols);
  softmax_cross_entropy_soft_ref(x.data(), t.data(), l.data(), dx.data(), rows, cols, scale);
  EXPECT_TRUE(gradient_matches(loss, x, dx));
}

TEST(BatchNormGrad, BatchNormGradWrtInputGammaBeta) {
  const std::int64_t rows = 6, ch = 4;
  const Vec x = random_vec(rows * ch, -2, 3, test::kSeed);
  const Vec gamma = random_vec(ch, 0.5, 1.5, test::kSeed + 1), beta = random_vec(ch, -1, 1, test::kSeed + 2);
  const Vec w = random_vec(rows * ch, -1, 1, test::kSeed + 3);
  const double eps = 1e-3;
  auto forward = [&](const Vec& xv, const Vec& g, const Vec& b, Vec* mean, Vec* invstd) {
    Vec rm(ch, 0.0), rv(ch, 1.0), y(rows * ch), sm(ch), si(ch);
    batchnorm_forward_train_ref(xv.data(), g.data(), b.data(), rm.data(), rv.data(), y.data(), sm.data(), si.data(),
                                rows, ch, 0.9, eps);
    if (mean) *mean = sm, *invstd = si;
    return dot(w, y);
  };
  Vec mean, invstd;
  forward(x, gamma, beta, &mean, &invstd);
  Vec dx(rows * ch), dgamma(ch, 0.0), dbeta(ch, 0.0);
  batchnorm_backward_ref(w.data(), x.data(), gamma.data(), mean.data(), invstd.data(), dx.data(), dgamma.data(),
                         dbeta.data(), rows, ch, false);
  EXPECT_TRUE(gradient_matches([&](const Vec& v) { return forward(v, gamma, beta, nullptr, nullptr); }, x, dx));
  EXPECT_TRUE(gradient_matches([&](const Vec& v) { return forward(x, v, beta, nullptr, nullptr); }, gamma, dgamma));
  EXPECT_TRUE(gradient_matches([&](const Vec& v) { return forward(x, gamma, v, nullptr, nullptr); }, beta, dbeta));
  // Inference is affine in x: its gradient is gamma / sqrt(var + eps) per channel.
  const Vec rm = random_vec(ch, -1, 1, 5), rv = random_vec(ch, 0.5, 2, 6);
  Vec want(rows * ch);
  for (std::int64_t i = 0; i < rows * ch; ++i) want[i] = w[i] * gamma[i % ch] / std::sqrt(rv[i % ch] + eps);
  EXPECT_TRUE(gradient_matches(
      [&](const Vec& v) {
        Vec y(rows * ch);
        batchnorm_forward_infer_ref(v.data(), gamma.data(), beta.data(), rm.data(), rv.data(), y.data(), rows, ch, eps);
        return dot(w, y);
      },
      x, want));
}

TEST(DropoutGrad, DropoutGrad) {
  const std::int64_t n = 64;
  const float rate = 0.4f;
  const Vec x = random_vec(n, -2, 2, test::kSeed), w = random_vec(n, -1, 1, test::kSeed + 1);
  auto loss = [&](const Vec& xv) {
    Vec y(n);
    dropout_ref(xv.data(), y.data(), n, rate, 99, 5);
    return dot(w, y);
  };
  Vec dx(n);
  dropout_ref(w.data(), dx.data(), n, rate, 99, 5);  // backward = the same masked scaling of dy
  EXPECT_TRUE(gradient_matches(loss, x, dx));
}

TEST(LrnGrad, LrnGradOddAndEvenWindows) {
  const std::int64_t pixels = 3, c = 7;
  for (int size : {5, 4, 1}) {
    SCOPED_TRACE(size);
    LrnParams prm;
    prm.size = size, prm.alpha = 0.5f, prm.beta = 0.75f, prm.k = 2.0f;  // a large alpha makes the coupling visible
    const Vec x = random_vec(pixels * c, -2, 2, test::kSeed), w = random_vec(pixels * c, -1, 1, test::kSeed + 1);
    auto loss = [&](const Vec& xv) {
      Vec y(pixels * c);
      lrn_forward_ref(xv.data(), y.data(), pixels, c, prm);
      return dot(w, y);
    };
    Vec dx(pixels * c);
    lrn_backward_ref(x.data(), w.data(), dx.data(), pixels, c, prm);
    EXPECT_TRUE(gradient_matches(loss, x, dx));
  }
}
