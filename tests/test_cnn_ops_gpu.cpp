// GPU: pooling and softmax / cross-entropy kernels against their CPU references on random data
// with poisoned outputs: odd channel counts, odd images, batch 1, AlexNet's pooling layers, rows
// from 1 to 40000 wide (warp, block and uncached paths), f32 and f16, misaligned pointers.
// Batch norm and dropout: test_cnn_norm_gpu.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cnn_gpu_util.h"
#include "kernels/pool2d.h"
#include "kernels/softmax.h"

using namespace tilenet;
using namespace tilenet::kernels;
using test::DevArray;

namespace {

struct PoolCase {
  const char* name;
  Pool2dShape sh;
  bool big;  // skipped in small mode
};

Pool2dShape pshape(int n, int h, int w, int c, int r, int s, int sh_, int sw, int pt = 0, int pl = 0, int pb = 0,
                   int pr = 0) {
  return Pool2dShape{n, h, w, c, r, s, sh_, sw, pt, pl, pb, pr};
}

std::vector<PoolCase> pool_cases() {
  return {
      {"alexnet_pool1_c64", pshape(4, 55, 55, 64, 3, 3, 2, 2), true},
      {"alexnet_pool1_c96", pshape(2, 55, 55, 96, 3, 3, 2, 2), true},
      {"alexnet_pool2", pshape(4, 27, 27, 192, 3, 3, 2, 2), true},
      {"alexnet_pool5", pshape(4, 13, 13, 256, 3, 3, 2, 2), false},
      {"c1_2x2", pshape(1, 13, 13, 1, 2, 2, 2, 2), false},
      {"c3_3x3_s1_pad1", pshape(1, 13, 13, 3, 3, 3, 1, 1, 1, 1, 1, 1), false},
      {"c7_3x3_s2_same", pshape(1, 27, 27, 7, 3, 3, 2, 2, 0, 0, 1, 1), false},
      {"c33_5x3_s2x1_asym", pshape(2, 13, 11, 33, 5, 3, 2, 1, 2, 1, 1, 2), false},
      {"c65_1x1", pshape(1, 13, 13, 65, 1, 1, 1, 1), false},
      {"c2_4x4_s3", pshape(3, 27, 27, 2, 4, 4, 3, 3, 1, 2, 3, 0), false},
      {"c4_window_is_image", pshape(2, 7, 5, 4, 7, 5, 1, 1), false},
      {"c16_3x3_s2_55", pshape(1, 55, 55, 16, 3, 3, 2, 2), false},
  };
}

template <typename T>
void check_pool(const Pool2dShape& sh, int misalign) {
  const std::int64_t in = sh.input_size(), out = sh.output_size();
  const std::vector<T> x = test::from_floats<T>(test::random_uniform(in, -2, 2, test::kSeed));
  const std::vector<T> dy = test::from_floats<T>(test::random_uniform(out, -1, 1, test::kSeed + 1));
  const double rtol = test::rtol_for<T>(1e-5), atol = std::is_same_v<T, half> ? 1e-3 : 1e-6;
  DevArray<T> dx_in(x, misalign), d_dy(dy, misalign);

  // Max pooling: values and indices are exact (ties: first in window order on both sides).
  std::vector<T> y_ref(out), dx_ref(in);
  std::vector<std::int32_t> idx_ref(out);
  max_pool2d_forward_ref(sh, x.data(), y_ref.data(), idx_ref.data());
  ASSERT_GT(test::l2_norm(test::floats(y_ref)), 0.0);
  DevArray<T> d_y(out, misalign);
  DevArray<std::int32_t> d_idx(out, misalign);
  max_pool2d_forward(sh, dx_in.get(), d_y.get(), d_idx.get(), cuda::current_stream());
  EXPECT_TRUE(test::all_equal(d_y.host_floats(), test::floats(y_ref))) << "max forward";
  EXPECT_TRUE(test::all_equal(d_idx.host_floats(), test::floats(idx_ref))) << "max indices";
  max_pool2d_backward_ref(sh, dy.data(), idx_ref.data(), dx_ref.data());
  DevArray<T> d_dx(in, misalign);
  max_pool2d_backward(sh, d_dy.get(), d_idx.get(), d_dx.get(), cuda::current_stream());
  EXPECT_TRUE(test::all_close(d_dx.host_floats(), test::floats(dx_ref), atol, rtol)) << "max backward";
  // Inference: no indices.
  d_y.poison();
  max_pool2d_forward(sh, dx_in.get(), d_y.get(), nullptr, cuda::current_stream());
  EXPECT_TRUE(test::all_equal(d_y.host_floats(), test::floats(y_ref))) << "max forward without indices";

  // Average pooling.
  avg_pool2d_forward_ref(sh, x.data(), y_ref.data());
  d_y.poison();
  avg_pool2d_forward(sh, dx_in.get(), d_y.get(), cuda::current_stream());
  EXPECT_TRUE(test::all_close(d_y.host_floats(), test::floats(y_ref), atol, rtol)) << "avg forward";
  avg_pool2d_backward_ref(sh, dy.data(), dx_ref.data());
  d_dx.poison();
  avg_pool2d_backward(sh, d_dy.get(), d_dx.get(), cuda::current_stream());
  EXPECT_TRUE(test::all_close(d_dx.host_floats(), test::floats(dx_ref), atol, rtol)) << "avg backward";
}

template <typename T>
void check_global_pool(std::int64_t n, std::int64_t hw, std::int64_t c) {
  const std::vector<T> x = test::from_floats<T>(test::random_uniform(n * hw * c, -2, 2, test::kSeed));
  const std::vector<T> dy = test::from_floats<T>(test::random_uniform(n * c, -1, 1, test::kSeed + 1));
  const double rtol = test::rtol_for<T>(1e-5), atol = std::is_same_v<T, half> ? 1e-3 : 1e-6;
  std::vector<T> y_ref(n * c), dx_ref(n * hw * c);
  global_avg_pool_forward_ref(x.data(), y_ref.data(), n, hw, c);
  global_avg_pool_backward_ref(dy.data(), dx_ref.data(), n, hw, c);
  DevArray<T> d_x(x), d_dy(dy), d_y(n * c), d_dx(n * hw * c);
  d_y.poison();
  d_dx.poison();
  global_avg_pool_forward(d_x.get(), d_y.get(), n, hw, c, cuda::current_stream());
  global_avg_pool_backward(d_dy.get(), d_dx.get(), n, hw, c, cuda::current_stream());
  EXPECT_TRUE(test::all_close(d_y.host_floats(), test::floats(y_ref), atol, rtol)) << "global avg forward";
  EXPECT_TRUE(test::all_close(d_dx.host_floats(), test::floats(dx_ref), atol, rtol)) << "global avg backward";
}

}  // namespace

TEST(PoolGpu, MatchesReferenceOnEveryShape) {
  TILENET_REQUIRE_GPU();
  SCOPED_TRACE(test::kSeed);
  for (const PoolCase& pc : pool_cases()) {
    if (pc.big && test::small_mode()) continue;
    SCOPED_TRACE(pc.name);
    {
      SCOPED_TRACE("f32");
      check_pool<float>(pc.sh, 0);
    }
    {
      SCOPED_TRACE("f16");
      check_pool<half>(pc.sh, 0);
    }
  }
}

TEST(PoolGpu, MisalignedPointersTakeTheScalarPath) {
  TILENET_REQUIRE_GPU();
  check_pool<float>(pshape(2, 13, 13, 64, 3, 3, 2, 2, 1, 1, 1, 1), 1);
  check_pool<half>(pshape(2, 13, 13, 64, 3, 3, 2, 2, 1, 1, 1, 1), 3);
}

TEST(PoolGpu, GlobalAveragePool) {
  TILENET_REQUIRE_GPU();
  for (auto [n, hw, c] : {std::tuple<int, int, int>{1, 1, 1}, {1, 169, 3}, {2, 49, 33}, {3, 36, 256}, {2, 729, 65},
                                {70001, 3, 5}}) {  // a batch past grid.y's 65535: the kernel strides over images
    SCOPED_TRACE(std::to_string(n) + "x" + std::to_string(hw) + "x" + std::to_string(c));
    check_global_pool<float>(n, hw, c);
    check_global_pool<half>(n, hw, c);
  }
}

namespace {

// *_scaled: the gradient scale is 1/64 times a loss scale of 1024 read from device memory.
enum class SmOp { fwd, log_fwd, bwd, log_bwd, ce, ce_nograd, ce_soft, ce_scaled, ce_soft_scaled };

template <typename T>
void check_softmax(std::int64_t rows, std::int64_t cols, float spread, int misalign) {
  const std::int64_t n = rows * cols;
  const std::vector<T> x = test::from_floats<T>(test::random_uniform(n, -spread, spread, test::kSeed));
  const std::vector<T> dy = test::from_floats<T>(test::random_uniform(n, -1, 1, test::kSeed + 1));
  std::vector<float> t = test::random_uniform(n, 0, 1, test::kSeed + 2);
  for (std::size_t i = 0; i < t.size(); i += 3) t[i] = 0.0f;  // some exact zeros
  std::vector<std::int32_t> labels(rows);
  for (std::int64_t r = 0; r < rows; ++r) labels[r] = static_cast<std::int32_t>((r * 7919) % cols);
  const bool h = std::is_same_v<T, half>;
  const double rtol = h ? 2e-3 : 1e-4, atol = h ? 2e-4 : 2e-6;
  DevArray<T> d_x(x, misalign), d_dy(dy, misalign), d_out(n, misalign);
  DevArray<float> d_t(t, misalign), d_loss(rows);
  DevArray<std::int32_t> d_lab(labels);
  const float loss_scale = 1024.0f;
  DevArray<float> d_scale(std::vector<float>{loss_scale});
  cudaStream_t s = cuda::current_stream();
  for (SmOp op : {SmOp::fwd, SmOp::log_fwd, SmOp::bwd, SmOp::log_bwd, SmOp::ce, SmOp::ce_nograd, SmOp::ce_soft,
                  SmOp::ce_scaled, SmOp::ce_soft_scaled}) {
    SCOPED_TRACE(static_cast<int>(op));
    std::vector<T> ref(n), y(n);
    std::vector<float> loss_ref(rows);
    d_out.poison();
    d_loss.poison();
    const bool log = op == SmOp::log_fwd || op == SmOp::log_bwd;
    switch (op) {
      case SmOp::fwd:
      case SmOp::log_fwd:
        softmax_forward_ref(x.data(), ref.data(), rows, cols, log);
        softmax_forward(d_x.get(), d_out.get(), rows, cols, log, s);
        break;
      case SmOp::bwd:
      case SmOp::log_bwd: {
        softmax_forward_ref(x.data(), y.data(), rows, cols, log);  // backward takes the forward output
        softmax_backward_ref(y.data(), dy.data(), ref.data(), rows, cols, log);
        DevArray<T> d_y(y, misalign);
        softmax_backward(d_y.get(), d_dy.get(), d_out.get(), rows, cols, log, s);
        d_out.host();  // d_y must outlive the kernel
        break;
      }
      case SmOp::ce:
      case SmOp::ce_nograd:
        softmax_cross_entropy_ref(x.data(), labels.data(), loss_ref.data(), ref.data(), rows, cols, 0.5f);
        softmax_cross_entropy(d_x.get(), d_lab.get(), d_loss.get(), op == SmOp::ce ? d_out.get() : nullptr, rows,
                              cols, 0.5f, nullptr, s);
        break;
      case SmOp::ce_soft:
        softmax_cross_entropy_soft_ref(x.data(), t.data(), loss_ref.data(), ref.data(), rows, cols, 0.5f);
        softmax_cross_entropy_soft(d_x.get(), d_t.get(), d_loss.get(), d_out.get(), rows, cols, 0.5f, nullptr, s);
        break;
      case SmOp::ce_scaled:
        softmax_cross_entropy_ref(x.data(), labels.data(), loss_ref.data(), ref.data(), rows, cols, 1.0f / 64,
                                  &loss_scale);
        softmax_cross_entropy(d_x.get(), d_lab.get(), d_loss.get(), d_out.get(), rows, cols, 1.0f / 64,
                              d_scale.get(), s);
        break;
      case SmOp::ce_soft_scaled:
        softmax_cross_entropy_soft_ref(x.data(), t.data(), loss_ref.data(), ref.data(), rows, cols, 1.0f / 64,
                                       &loss_scale);
        softmax_cross_entropy_soft(d_x.get(), d_t.get(), d_loss.get(), d_out.get(), rows, cols, 1.0f / 64,
                                   d_scale.get(), s);
        break;
    }
    if (op != SmOp::ce_nograd) {
      // One column: softmax is 1, so every result but the forward's is exactly 0 (still checked:
      // the output was poisoned with NaN).
      if (cols > 1 || op == SmOp::fwd) ASSERT_GT(test::l2_norm(test::floats(ref)), 0.0);
      // The scaled gradients are (p * sum(t) - t) * 16: where that cancels, the absolute error is
      // 16 times the unscaled one.
      const double gs = (op == SmOp::ce_scaled || op == SmOp::ce_soft_scaled) ? 16.0 : 1.0;
      EXPECT_TRUE(test::all_close(d_out.host_floats(), test::floats(ref), atol * gs, rtol));
    }
    if (op >= SmOp::ce)
      EXPECT_TRUE(test::all_close(d_loss.host_floats(), loss_ref, 1e-5 * spread, 1e-5));
  }
}

}  // namespace

TEST(SoftmaxGpu, MatchesReferenceOnEveryPath) {
  TILENET_REQUIRE_GPU();
  SCOPED_TRACE(test::kSeed);
  struct Case {
    std::int64_t rows, cols;
    bool big;
  };
  // Warp path up to 1024 columns, block path (cached) beyond, uncached past 32768 / 16384 (8192
  // / 4096 when cols % 8 != 0). 6001: the f32 backward with dy in shared memory and scalar columns.
  const Case cases[] = {{1, 1, false},     {1, 2, false},    {3, 7, false},     {5, 33, false},   {7, 65, false},
                        {64, 1000, false}, {17, 1024, false}, {9, 1025, false},  {4, 4096, false}, {3, 8200, false},
                        {3, 8193, false},  {2, 16385, false}, {2, 32768, true},  {2, 40000, true}, {1000, 10, false},
                        {300, 512, false}, {33, 4095, false}, {3, 6001, false}};
  for (const Case& c : cases) {
    if (c.big && test::small_mode()) continue;
    SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols));
    check_softmax<float>(c.rows, c.cols, 8.0f, 0);
    check_softmax<half>(c.rows, c.cols, 8.0f, 0);
  }
}

TEST(SoftmaxGpu, MisalignedAndLargeLogits) {
  TILENET_REQUIRE_GPU();
  check_softmax<float>(6, 1000, 8.0f, 1);
  check_softmax<half>(6, 2048, 8.0f, 3);
  // Logits spread over +-1e4: nothing overflows; probabilities are mostly exact 0 and 1.
  check_softmax<float>(8, 1000, 1e4f, 0);
  check_softmax<float>(2, 20000, 1e4f, 0);
}

TEST(SoftmaxGpu, CrossEntropyEdgeCases) {
  TILENET_REQUIRE_GPU();
  cudaStream_t s = cuda::current_stream();
  // C = 1: loss and gradient exactly 0. C = 2 with logits 1e4 apart.
  DevArray<float> x1(std::vector<float>{123.5f}), loss(2), d1(1);
  DevArray<std::int32_t> lab0(std::vector<std::int32_t>{0, 1});
  softmax_cross_entropy(x1.get(), lab0.get(), loss.get(), d1.get(), 1, 1, 1.0f, nullptr, s);
  EXPECT_EQ(loss.host()[0], 0.0f);
  EXPECT_EQ(d1.host()[0], 0.0f);
  DevArray<float> x2(std::vector<float>{1e4f, -1e4f, 0.0f, 0.0f}), d2(4);
  softmax_cross_entropy(x2.get(), lab0.get(), loss.get(), d2.get(), 2, 2, 1.0f, nullptr, s);
  EXPECT_TRUE(test::all_close(loss.host(), {0.0f, std::log(2.0f)}, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(d2.host(), {0, 0, 0.5f, -0.5f}, 1e-7, 0));
  // A label outside [0, C) yields a NaN loss and a NaN gradient row, and leaves the others intact.
  DevArray<std::int32_t> bad(std::vector<std::int32_t>{5, 1});
  softmax_cross_entropy(x2.get(), bad.get(), loss.get(), d2.get(), 2, 2, 1.0f, nullptr, s);
  const std::vector<float> l = loss.host(), d = d2.host();
  EXPECT_TRUE(std::isnan(l[0]));
  EXPECT_NEAR(l[1], std::log(2.0f), 1e-6);
  EXPECT_TRUE(std::isnan(d[0]) && std::isnan(d[1]));
  EXPECT_TRUE(test::all_close({d[2], d[3]}, {0.5f, -0.5f}, 1e-7, 0));
}

TEST(SoftmaxGpu, NaNAndMaskedLogitsAsTheReference) {
  TILENET_REQUIRE_GPU();
  cudaStream_t s = cuda::current_stream();
  // 37 columns: the scalar warp path, lane j holding columns j and j + 32. Row 0: a NaN as lane
  // 3's first value (no finite maximum seen there yet): the whole row is NaN. Row 1: both of lane
  // 0's columns -inf, with target mass: the soft loss is +inf and sum(t) keeps that mass. Row 2:
  // nothing but -inf. Row 3: a masked row, all -inf with no target mass: loss 0.
  const int rows = 4, cols = 37;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = test::random_uniform(rows * cols, -4, 4, test::kSeed);
  std::vector<float> t = test::random_uniform(rows * cols, 0, 1, test::kSeed + 1);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[cols] = x[cols + 32] = -inf;
  for (int c = 0; c < cols; ++c) x[2 * cols + c] = x[3 * cols + c] = -inf;
  for (int c = 0; c < cols; ++c) t[3 * cols + c] = 0.0f;
  std::vector<float> y_ref(rows * cols), loss_ref(rows), d_ref(rows * cols);
  softmax_forward_ref(x.data(), y_ref.data(), rows, cols, false);
  softmax_cross_entropy_soft_ref(x.data(), t.data(), loss_ref.data(), d_ref.data(), rows, cols, 1.0f);
  DevArray<float> d_x(x), d_t(t), y(rows * cols), loss(rows), d(rows * cols);
  softmax_forward(d_x.get(), y.get(), rows, cols, false, s);
  softmax_cross_entropy_soft(d_x.get(), d_t.get(), loss.get(), d.get(), rows, cols, 1.0f, nullptr, s);
  EXPECT_TRUE(test::all_close(y.host(), y_ref, 1e-6, 1e-5));
  EXPECT_TRUE(test::all_close(loss.host(), loss_ref, 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(d.host(), d_ref, 1e-6, 1e-5));
  EXPECT_TRUE(std::isnan(loss.host()[0]));
  EXPECT_EQ(loss.host()[1], inf);
  EXPECT_EQ(loss_ref[3], 0.0f);
  EXPECT_EQ(loss.host()[3], 0.0f);
  const std::vector<float> dh = d.host();  // the masked row's gradient is 0, not NaN
  for (int c = 0; c < cols; ++c) ASSERT_EQ(dh[3 * cols + c], 0.0f) << "column " << c;
}
