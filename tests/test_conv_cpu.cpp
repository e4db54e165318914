// Convolution on the CPU: the fast backend (im2col + gemm_cpu) against the double-accumulating
// reference on many shapes, the reference against hand-computed values and against central finite
// differences (names contain Grad), and the Tensor-level argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "tensor/conv.h"
#include "conv_test_util.h"
#include "test_util.h"

using namespace tilenet;
using kernels::Activation;
using kernels::Conv2dShape;
using test::conv_shape;
using test::with_padding;

namespace {

std::vector<Conv2dShape> cpu_shapes() {
  std::vector<Conv2dShape> v = {
      conv_shape(1, 5, 5, 1, 1, 3, 3),                       // smallest
      conv_shape(2, 13, 13, 3, 7, 3, 3, 1, 1),               // odd C, K
      conv_shape(2, 13, 13, 3, 7, 3, 3, 2, 1),               // stride 2
      conv_shape(1, 17, 15, 5, 6, 1, 1),                     // 1x1 (pointwise fast path)
      conv_shape(2, 9, 9, 8, 4, 1, 1, 2, 0),                 // 1x1 stride 2
      conv_shape(2, 16, 16, 4, 8, 5, 5, 1, 2),               // 5x5 same
      conv_shape(1, 31, 29, 3, 5, 11, 11, 4, 2),             // conv1-like: 11x11 stride 4
      conv_shape(2, 12, 12, 6, 5, 3, 3, 1, 2, 2),            // dilation 2
      conv_shape(1, 10, 11, 2, 3, 2, 3, 3, 5),               // padding 5 > filter, stride 3
      with_padding(conv_shape(2, 8, 9, 3, 4, 3, 3, 2), 0, 1, 1, 0),  // Keras "same" with stride 2
      with_padding(conv_shape(1, 7, 7, 4, 3, 4, 2, 1), 2, 0, 1, 3),  // asymmetric everything
      conv_shape(3, 6, 6, 16, 24, 3, 3, 1, 1),               // wider channels
  };
  Conv2dShape dil = conv_shape(1, 14, 13, 5, 3, 3, 2, 2, 1);
  dil.dilation_h = 2;
  dil.dilation_w = 3;
  v.push_back(dil);
  return v;
}

std::string label(const Conv2dShape& sh) { return sh.str(); }

// |a - b| <= atol + rtol*|b| with atol scaled by the reduction length (float accumulation).
double atol_for(double k) { return 2e-6 * k + 1e-6; }

}  // namespace

TEST(Conv2dRef, ForwardByHand) {
  // 1x3x3x1 input, one 2x2 filter, stride 1, pad 0: y = 2x2.
  Conv2dShape sh = conv_shape(1, 3, 3, 1, 1, 2, 2);
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> w = {1, 0, -1, 2};
  std::vector<float> bias = {0.5f};
  std::vector<float> y(4);
  kernels::conv2d_forward_ref(sh, x.data(), w.data(), bias.data(), y.data(), Activation::none);
  // y[0,0] = 1*1 + 2*0 + 4*-1 + 5*2 = 7 (+0.5)
  EXPECT_TRUE(test::all_equal(y, {7.5f, 9.5f, 13.5f, 15.5f}));
  // Padding 1 all round, stride 2: y is 2x2; corners see one tap each of the bottom-right weight.
  Conv2dShape sp = conv_shape(1, 3, 3, 1, 1, 2, 2, 2, 1);
  std::vector<float> yp(4);
  kernels::conv2d_forward_ref(sp, x.data(), w.data(), nullptr, yp.data(), Activation::relu);
  // (0,0): only x(0,0)*w(1,1)=2; (0,1): x(0,1)*w(1,0) + x(0,2)*w(1,1) = -2 + 6 = 4;
  // (1,0): x(1,0)*w(0,1) + x(2,0)*w(1,1) = 0 + 14 = 14; (1,1): 5*1 + 6*0 + 8*-1 + 9*2 = 15.
  EXPECT_TRUE(test::all_equal(yp, {2, 4, 14, 15}));
}

TEST(Conv2dRef, ShapesAndChecks) {
  Conv2dShape sh = conv_shape(128, 224, 224, 3, 64, 11, 11, 4, 2);
  EXPECT_EQ(sh.p(), 55);
  EXPECT_EQ(sh.q(), 55);
  EXPECT_EQ(sh.gemm_m(), 128 * 55 * 55);
  EXPECT_EQ(sh.gemm_k(), 363);
  EXPECT_NO_THROW(kernels::check_conv2d_shape(sh, "t"));
  EXPECT_THROW(kernels::check_conv2d_shape(conv_shape(1, 2, 2, 1, 1, 3, 3), "t"), ShapeError);  // empty output
  EXPECT_THROW(kernels::check_conv2d_shape(conv_shape(1, 4, 4, 0, 1, 3, 3), "t"), ShapeError);
  EXPECT_THROW(kernels::check_conv2d_shape(conv_shape(1, 4, 4, 1, 1, 3, 3, 0), "t"), ValueError);
  EXPECT_THROW(kernels::check_conv2d_shape(conv_shape(1, 4, 4, 1, 1, 3, 3, 1, -1), "t"), ValueError);
  EXPECT_THROW(kernels::check_conv2d_shape(conv_shape(1, 4, 4, 1, 1, 3, 3, 1, 0, 0), "t"), ValueError);
  try {
    kernels::check_conv2d_shape(conv_shape(1, 2, 2, 1, 1, 3, 3), "conv2d_forward");
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d_forward"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3x3"), std::string::npos) << e.what();
  }
  // Extents past int: refused, and the message (which prints the output extents) still right.
  Conv2dShape huge = conv_shape(1, 2'000'000'000, 8, 1, 1, 1, 1, 1, 0);
  huge.pad_bottom = 2'000'000'000;
  try {
    kernels::check_conv2d_shape(huge, "conv2d_forward");
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("-> y(1,4000000000,8,1)"), std::string::npos) << e.what();
  }
}

// Central finite differences of L = sum(g * conv(x, w)) in double: exact for a linear map up to
// rounding, so the tolerance is tight.
TEST(Conv2dRef, GradBackwardData) {
  for (const Conv2dShape& sh : {conv_shape(2, 5, 6, 3, 2, 3, 3, 1, 1), conv_shape(1, 7, 7, 2, 3, 3, 2, 2, 1),
                                with_padding(conv_shape(1, 6, 5, 2, 2, 3, 3, 2, 0, 2), 1, 2, 0, 1), conv_shape(1, 9, 9, 1, 2, 5, 5, 4, 2)}) {
    SCOPED_TRACE(label(sh));
    const auto xf = test::random_uniform(sh.x_elems(), -1, 1, test::kSeed);
    const auto wf = test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 1);
    const auto gf = test::random_uniform(sh.y_elems(), -1, 1, test::kSeed + 2);
    std::vector<double> x(xf.begin(), xf.end()), w(wf.begin(), wf.end()), g(gf.begin(), gf.end());
    std::vector<double> dx(x.size()), y(g.size());
    kernels::conv2d_backward_data_ref(sh, g.data(), w.data(), dx.data());
    auto loss = [&](const std::vector<double>& xx) {
      kernels::conv2d_forward_ref(sh, xx.data(), w.data(), nullptr, y.data(), Activation::none);
      double l = 0;
      for (std::size_t i = 0; i < y.size(); ++i) l += g[i] * y[i];
      return l;
    };
    const double eps = 1e-3;
    double norm = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::vector<double> xp = x, xm = x;
      xp[i] += eps;
      xm[i] -= eps;
      const double fd = (loss(xp) - loss(xm)) / (2 * eps);
      ASSERT_NEAR(dx[i], fd, 1e-8 + 1e-8 * std::fabs(fd)) << "element " << i;
      norm += fd * fd;
    }
    EXPECT_GT(norm, 0.0);
  }
}

TEST(Conv2dRef, GradBackwardFilter) {
  for (const Conv2dShape& sh : {conv_shape(2, 5, 6, 3, 2, 3, 3, 1, 1), conv_shape(1, 7, 7, 2, 3, 3, 2, 2, 1),
                                with_padding(conv_shape(1, 6, 5, 2, 2, 3, 3, 2, 0, 2), 1, 2, 0, 1), conv_shape(1, 9, 9, 1, 2, 5, 5, 4, 2)}) {
    SCOPED_TRACE(label(sh));
    const auto xf = test::random_uniform(sh.x_elems(), -1, 1, test::kSeed + 3);
    const auto wf = test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 4);
    const auto gf = test::random_uniform(sh.y_elems(), -1, 1, test::kSeed + 5);
    std::vector<double> x(xf.begin(), xf.end()), w(wf.begin(), wf.end()), g(gf.begin(), gf.end());
    std::vector<double> dw(w.size(), 0.25), y(g.size());
    kernels::conv2d_backward_filter_ref(sh, x.data(), g.data(), dw.data(), /*accumulate=*/true);
    auto loss = [&](const std::vector<double>& ww) {
      kernels::conv2d_forward_ref(sh, x.data(), ww.data(), nullptr, y.data(), Activation::none);
      double l = 0;
      for (std::size_t i = 0; i < y.size(); ++i) l += g[i] * y[i];
      return l;
    };
    const double eps = 1e-3;
    for (std::size_t i = 0; i < w.size(); ++i) {
      std::vector<double> wp = w, wm = w;
      wp[i] += eps;
      wm[i] -= eps;
      const double fd = (loss(wp) - loss(wm)) / (2 * eps);
      ASSERT_NEAR(dw[i] - 0.25, fd, 1e-8 + 1e-8 * std::fabs(fd)) << "element " << i;
    }
  }
}

// The bias gradient of the forward pass (sum of dy over N, P, Q) and ReLU: finite differences of
// the fused epilogue away from the kink.
TEST(Conv2dRef, GradBiasThroughFusedEpilogue) {
  Conv2dShape sh = conv_shape(2, 6, 6, 2, 3, 3, 3, 1, 1);
  const auto xf = test::random_uniform(sh.x_elems(), -1, 1, test::kSeed + 6);
  const auto wf = test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 7);
  std::vector<double> x(xf.begin(), xf.end()), w(wf.begin(), wf.end()), b = {0.3, -0.2, 0.1}, y(sh.y_elems());
  kernels::conv2d_forward_ref(sh, x.data(), w.data(), b.data(), y.data(), Activation::none);
  std::vector<double> pre = y;
  kernels::conv2d_forward_ref(sh, x.data(), w.data(), b.data(), y.data(), Activation::relu);
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], std::max(pre[i], 0.0));
  for (int k = 0; k < sh.k; ++k) {
    double analytic = 0;  // d(sum relu(y))/d b_k
    for (std::size_t i = k; i < pre.size(); i += sh.k)
      if (std::fabs(pre[i]) > 1e-3) analytic += pre[i] > 0 ? 1 : 0;
    auto loss = [&](double bk) {
      std::vector<double> bb = b;
      bb[k] = bk;
      kernels::conv2d_forward_ref(sh, x.data(), w.data(), bb.data(), y.data(), Activation::relu);
      double l = 0;
      for (std::size_t i = k; i < y.size(); i += sh.k)
        if (std::fabs(pre[i]) > 1e-3) l += y[i];
      return l;
    };
    const double eps = 1e-5;
    EXPECT_NEAR((loss(b[k] + eps) - loss(b[k] - eps)) / (2 * eps), analytic, 1e-6);
  }
}

class Conv2dCpu : public ::testing::TestWithParam<Conv2dShape> {};

TEST_P(Conv2dCpu, F32MatchesReference) {
  const Conv2dShape sh = GetParam();
  SCOPED_TRACE(label(sh) + " seed " + std::to_string(test::kSeed));
  const auto x = test::random_uniform(sh.x_elems(), -1, 1, test::kSeed);
  const auto w = test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 1);
  const auto dy = test::random_uniform(sh.y_elems(), -1, 1, test::kSeed + 2);
  const auto bias = test::random_uniform(sh.k, -0.5f, 0.5f, test::kSeed + 3);
  for (Activation act : {Activation::none, Activation::relu}) {
    std::vector<float> y(sh.y_elems(), test::poison_f32()), yr(sh.y_elems());
    kernels::conv2d_forward_ref(sh, x.data(), w.data(), bias.data(), yr.data(), act);
    kernels::conv2d_forward_cpu(sh, x.data(), w.data(), bias.data(), y.data(), act);
    EXPECT_GT(test::l2_norm(yr), 0.0);
    EXPECT_TRUE(test::all_close(y, yr, atol_for(sh.gemm_k()), 1e-5)) << "forward";
  }
  std::vector<float> dx(sh.x_elems(), test::poison_f32()), dxr(sh.x_elems());
  kernels::conv2d_backward_data_ref(sh, dy.data(), w.data(), dxr.data());
  kernels::conv2d_backward_data_cpu(sh, dy.data(), w.data(), dx.data());
  EXPECT_GT(test::l2_norm(dxr), 0.0);
  EXPECT_TRUE(test::all_close(dx, dxr, atol_for(static_cast<double>(sh.k) * sh.r * sh.s), 1e-5)) << "backward data";
  for (bool acc : {false, true}) {
    std::vector<float> dw(sh.w_elems(), acc ? 0.5f : test::poison_f32()), dwr(sh.w_elems(), 0.5f);
    kernels::conv2d_backward_filter_ref(sh, x.data(), dy.data(), dwr.data(), acc);
    kernels::conv2d_backward_filter_cpu(sh, x.data(), dy.data(), dw.data(), acc);
    EXPECT_GT(test::l2_norm(dwr), 0.0);
    EXPECT_TRUE(test::all_close(dw, dwr, atol_for(sh.gemm_m()), 1e-5)) << "backward filter, accumulate " << acc;
  }
}

TEST_P(Conv2dCpu, F16MatchesReference) {
  const Conv2dShape sh = GetParam();
  SCOPED_TRACE(label(sh) + " seed " + std::to_string(test::kSeed));
  const auto x = test::to_half(test::random_uniform(sh.x_elems(), -1, 1, test::kSeed));
  const auto w = test::to_half(test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 1));
  const auto dy = test::to_half(test::random_uniform(sh.y_elems(), -1, 1, test::kSeed + 2));
  const auto bias = test::random_uniform(sh.k, -0.5f, 0.5f, test::kSeed + 3);
  // One fp16 rounding of the result (plus float accumulation): 2^-10 relative and a little more.
  const double rtol = 2e-3;
  std::vector<half> y(sh.y_elems(), test::poison_f16()), yr(sh.y_elems());
  kernels::conv2d_forward_ref(sh, x.data(), w.data(), bias.data(), yr.data(), Activation::relu);
  kernels::conv2d_forward_cpu(sh, x.data(), w.data(), bias.data(), y.data(), Activation::relu);
  EXPECT_TRUE(test::all_close(test::to_float(y), test::to_float(yr), 1e-3, rtol)) << "forward";
  std::vector<half> dx(sh.x_elems(), test::poison_f16()), dxr(sh.x_elems());
  kernels::conv2d_backward_data_ref(sh, dy.data(), w.data(), dxr.data());
  kernels::conv2d_backward_data_cpu(sh, dy.data(), w.data(), dx.data());
  EXPECT_TRUE(test::all_close(test::to_float(dx), test::to_float(dxr), 1e-3, rtol)) << "backward data";
  std::vector<float> dw(sh.w_elems(), 0.5f), dwr(sh.w_elems(), 0.5f);
  kernels::conv2d_backward_filter_ref(sh, x.data(), dy.data(), dwr.data(), true);
  kernels::conv2d_backward_filter_cpu(sh, x.data(), dy.data(), dw.data(), true);
  EXPECT_TRUE(test::all_close(dw, dwr, atol_for(sh.gemm_m()), 1e-5)) << "backward filter f32 dw";
  std::vector<half> dwh(sh.w_elems(), test::poison_f16()), dwhr(sh.w_elems());
  kernels::conv2d_backward_filter_ref(sh, x.data(), dy.data(), dwhr.data(), false);
  kernels::conv2d_backward_filter_cpu(sh, x.data(), dy.data(), dwh.data(), false);
  EXPECT_TRUE(test::all_close(test::to_float(dwh), test::to_float(dwhr), 1e-3, rtol)) << "backward filter f16 dw";
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dCpu, ::testing::ValuesIn(cpu_shapes()));

TEST(Conv2dTensor, CpuForwardBackwardMatchKernels) {
  Conv2dOptions opt;
  opt.stride_h = opt.stride_w = 2;
  opt.pad_top = 1;
  opt.pad_left = 0;
  opt.pad_bottom = 1;
  opt.pad_right = 1;
  Tensor x = Tensor::uniform({2, 9, 8, 3}, -1, 1, 11);
  Tensor w = Tensor::uniform({4, 3, 3, 3}, -1, 1, 12);
  Tensor b = Tensor::uniform({4}, -1, 1, 13);
  EXPECT_EQ(conv2d_output_shape(x.shape(), w.shape(), opt), (Shape{2, 5, 4, 4}));
  Tensor y = conv2d_forward(x, w, b, opt, Activation::relu);
  ASSERT_EQ(y.shape(), (Shape{2, 5, 4, 4}));
  Conv2dShape sh = conv_shape(2, 9, 8, 3, 4, 3, 3, 2);
  sh.pad_top = 1;
  sh.pad_bottom = 1;
  sh.pad_right = 1;
  const auto xv = x.to_vector(), wv = w.to_vector(), bv = b.to_vector();
  std::vector<float> yr(sh.y_elems());
  kernels::conv2d_forward_ref(sh, xv.data(), wv.data(), bv.data(), yr.data(), Activation::relu);
  EXPECT_TRUE(test::all_close(y.to_vector(), yr, 1e-5, 1e-5));

  Tensor dy = Tensor::uniform(y.shape(), -1, 1, 14);
  Tensor dx = Tensor::empty(x.shape());
  conv2d_backward_data_into(dy, w, dx, opt);
  std::vector<float> dxr(sh.x_elems()), dyv = dy.to_vector();
  kernels::conv2d_backward_data_ref(sh, dyv.data(), wv.data(), dxr.data());
  EXPECT_TRUE(test::all_close(dx.to_vector(), dxr, 1e-5, 1e-5));

  Tensor dw = Tensor::full(w.shape(), 1.0f);
  conv2d_backward_filter_into(x, dy, dw, opt, /*accumulate=*/true);
  std::vector<float> dwr(sh.w_elems(), 1.0f);
  kernels::conv2d_backward_filter_ref(sh, xv.data(), dyv.data(), dwr.data(), true);
  EXPECT_TRUE(test::all_close(dw.to_vector(), dwr, 1e-5, 1e-5));

  // f16 inputs with an f32 dw, and the f16 forward.
  Tensor xh = x.to(DType::f16), wh = w.to(DType::f16), dyh = dy.to(DType::f16);
  Tensor yh = conv2d_forward(xh, wh, b, opt, Activation::relu);
  EXPECT_EQ(yh.dtype(), DType::f16);
  EXPECT_TRUE(test::all_close(yh.to_vector(), yr, 2e-2, 1e-2));
  Tensor dw32 = Tensor::zeros(w.shape());
  conv2d_backward_filter_into(xh, dyh, dw32, opt);
  EXPECT_TRUE(test::all_close(dw32.to_vector(), [&] {
    std::vector<float> v = dwr;
    for (auto& e : v) e -= 1.0f;
    return v;
  }(), 5e-2, 1e-2));
}

TEST(Conv2dTensor, ErrorsNameTheOpAndShapes) {
  Conv2dOptions opt;
  Tensor x = Tensor::zeros({2, 8, 8, 3});
  Tensor w = Tensor::zeros({4, 3, 3, 3});
  auto expect_msg = [](auto&& f, const char* needle) {
    try {
      f();
      ADD_FAILURE() << "no exception; expected one mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // Wrong rank, channel mismatch, empty output.
  EXPECT_THROW(conv2d_forward(Tensor::zeros({8, 8, 3}), w, Tensor(), opt), ShapeError);
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({4, 3, 3}), Tensor(), opt), ShapeError);
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({4, 3, 3, 2}), Tensor(), opt), ShapeError);
  expect_msg([&] { conv2d_forward(x, Tensor::zeros({4, 3, 3, 2}), Tensor(), opt); }, "conv2d_forward");
  expect_msg([&] { conv2d_forward(x, Tensor::zeros({4, 3, 3, 2}), Tensor(), opt); }, "channels");
  EXPECT_THROW(conv2d_forward(Tensor::zeros({1, 2, 2, 3}), w, Tensor(), opt), ShapeError);
  expect_msg([&] { conv2d_output_shape(Shape{1, 2, 2, 3}, w.shape(), opt); }, "conv2d");
  // Bad options.
  Conv2dOptions bad;
  bad.stride_h = 0;
  EXPECT_THROW(conv2d_forward(x, w, Tensor(), bad), ValueError);
  bad = Conv2dOptions();
  bad.pad_left = -1;
  EXPECT_THROW(conv2d_forward(x, w, Tensor(), bad), ValueError);
  // dtypes: mixed inputs, an i32 input, a bias in f16, a dw in neither f32 nor x's dtype.
  EXPECT_THROW(conv2d_forward(x, w.to(DType::f16), Tensor(), opt), DtypeError);
  EXPECT_THROW(conv2d_forward(Tensor::from_ints(std::vector<std::int32_t>(2 * 8 * 8 * 3), {2, 8, 8, 3}), w, Tensor(), opt),
               DtypeError);
  EXPECT_THROW(conv2d_forward(x, w, Tensor::zeros({4}, DType::f16), opt), DtypeError);
  // Wrong bias / out / dy / dx / dw shapes.
  EXPECT_THROW(conv2d_forward(x, w, Tensor::zeros({3}), opt), ShapeError);
  expect_msg([&] { conv2d_forward(x, w, Tensor::zeros({3}), opt); }, "bias");
  Tensor out = Tensor::zeros({2, 6, 6, 5});
  EXPECT_THROW(conv2d_forward_into(x, w, Tensor(), out, opt), ShapeError);
  expect_msg([&] { conv2d_forward_into(x, w, Tensor(), out, opt); }, "(2, 6, 6, 4)");
  Tensor dx = Tensor::zeros(x.shape());
  EXPECT_THROW(conv2d_backward_data_into(Tensor::zeros({2, 6, 5, 4}), w, dx, opt), ShapeError);
  expect_msg([&] { conv2d_backward_data_into(Tensor::zeros({2, 6, 5, 4}), w, dx, opt); }, "conv2d_backward_data");
  Tensor dw = Tensor::zeros(w.shape());
  EXPECT_THROW(conv2d_backward_filter_into(x, Tensor::zeros({2, 6, 6, 5}), dw, opt), ShapeError);
  Tensor dw16 = Tensor::zeros(w.shape(), DType::f16);
  EXPECT_THROW(conv2d_backward_filter_into(x, Tensor::zeros({2, 6, 6, 4}), dw16, opt), DtypeError);
  expect_msg([&] { conv2d_backward_filter_into(x, Tensor::zeros({2, 6, 6, 4}), dw16, opt); },
             "conv2d_backward_filter");
  // Undefined operands.
  EXPECT_THROW(conv2d_forward(Tensor(), w, Tensor(), opt), ValueError);
  EXPECT_THROW(conv2d_backward_data_into(Tensor(), w, dx, opt), ValueError);
}

// A training-sized CPU pass stays practical: a 3x3 conv over a 32x32x32 batch of 16 (what a small
// CNN's step does) finishes well within a second on a couple of cores.
TEST(Conv2dCpuSpeed, SmallCnnLayerIsPractical) {
  Conv2dOptions opt;
  opt.pad_top = opt.pad_left = opt.pad_bottom = opt.pad_right = 1;
  Tensor x = Tensor::uniform({16, 32, 32, 32}, -1, 1, 1);
  Tensor w = Tensor::uniform({32, 3, 3, 32}, -1, 1, 2);
  Tensor y = conv2d_forward(x, w, Tensor(), opt, Activation::relu);
  Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape());
  conv2d_backward_data_into(y, w, dx, opt);
  conv2d_backward_filter_into(x, y, dw, opt);
  for (float v : dw.to_vector()) ASSERT_TRUE(std::isfinite(v));
}

// The autotuning switch (the search itself needs a device: test_conv_gpu): off by default, toggles,
// and with nothing searched there are no results and conv2d_choose_algo keeps the rule's pick.
TEST(Conv2dAutotune, SwitchAndEmptyResultsWithoutADevice) {
  EXPECT_FALSE(kernels::conv2d_autotune());
  kernels::conv2d_set_autotune(true);
  EXPECT_TRUE(kernels::conv2d_autotune());
  EXPECT_TRUE(kernels::conv2d_autotune_results().empty());
  kernels::conv2d_autotune_reset();
  EXPECT_TRUE(kernels::conv2d_autotune_results().empty());
  kernels::conv2d_set_autotune(false);
  EXPECT_FALSE(kernels::conv2d_autotune());
}
