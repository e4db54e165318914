// GPU convolution: every algorithm x pass x dtype against the CPU reference on random data with
// NaN-poisoned outputs: AlexNet's five layers at batch 2, 1x1/3x3/5x5/11x11 filters, strides
// 1/2/3/4, padding 0..5 (asymmetric too), dilation, odd c/k/h/w, batch 1, misaligned pointers
// (the element-wise loaders), accumulating backward-filter into f32 and f16. Small mode
// (TILENET_TEST_SMALL, used under compute-sanitizer) skips the AlexNet shapes.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/gemm_wgmma_gate.h"
#include "kernels/launch.h"
#include "tensor/conv.h"
#include "tensor/memory.h"
#include "tensor/stream.h"
#include "conv_test_util.h"
#include "test_util.h"

using namespace tilenet;
using kernels::Activation;
using kernels::Conv2dAlgo;
using kernels::Conv2dPass;
using kernels::Conv2dShape;
using test::conv_shape;
using test::with_padding;

namespace {

struct Case {
  std::string name;
  Conv2dShape sh;
  bool big = false;      // skipped in small mode
  int misalign = 0;      // elements by which every operand is shifted off 16-byte alignment
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  Conv2dShape dil = conv_shape(1, 14, 13, 8, 16, 3, 2, 2, 1);
  dil.dilation_h = 2;
  dil.dilation_w = 3;
  return {
      {"alexnet_conv1", conv_shape(2, 224, 224, 3, 64, 11, 11, 4, 2), true},
      {"alexnet_conv2", conv_shape(2, 27, 27, 64, 192, 5, 5, 1, 2), true},
      {"alexnet_conv3", conv_shape(2, 13, 13, 192, 384, 3, 3, 1, 1), true},
      {"alexnet_conv4", conv_shape(2, 13, 13, 384, 256, 3, 3, 1, 1), true},
      {"alexnet_conv5", conv_shape(2, 13, 13, 256, 256, 3, 3, 1, 1), true},
      {"tiny", conv_shape(1, 5, 5, 1, 1, 3, 3)},
      {"c3_k7_13x13_s1", conv_shape(2, 13, 13, 3, 7, 3, 3, 1, 1)},
      {"c3_k7_13x13_s2", conv_shape(2, 13, 13, 3, 7, 3, 3, 2, 1)},
      {"pointwise", conv_shape(2, 17, 15, 16, 24, 1, 1)},
      {"pointwise_s2", conv_shape(2, 9, 9, 8, 4, 1, 1, 2, 0)},
      {"5x5_same", conv_shape(2, 16, 16, 8, 16, 5, 5, 1, 2)},
      {"11x11_s4_smallc", conv_shape(1, 31, 29, 3, 5, 11, 11, 4, 2)},
      {"dilation2", conv_shape(2, 12, 12, 16, 8, 3, 3, 1, 2, 2)},
      {"pad5_s3", conv_shape(1, 10, 11, 2, 3, 2, 3, 3, 5)},
      {"same_s2_asym", with_padding(conv_shape(2, 8, 9, 8, 16, 3, 3, 2), 0, 1, 1, 0)},
      {"asym_4x2", with_padding(conv_shape(1, 7, 7, 4, 3, 4, 2, 1), 2, 0, 1, 3)},
      {"batch1_wide", conv_shape(1, 20, 20, 64, 72, 3, 3, 1, 1)},
      {"odd_k7_c32", conv_shape(2, 13, 13, 32, 7, 3, 3, 1, 1)},
      {"ragged_n136", conv_shape(3, 11, 11, 40, 136, 3, 3, 1, 1)},
      {"dilation_2x3_s2", dil},
      {"multi_ktile", conv_shape(4, 28, 28, 64, 128, 3, 3, 1, 1)},
      {"s2_c32", conv_shape(4, 28, 28, 32, 64, 3, 3, 2, 1)},
      {"tinyc_dgrad_s2", conv_shape(2, 19, 17, 3, 16, 5, 5, 2, 2)},     // the GEMM + col2im path
      {"tinyc_dgrad_dil2", conv_shape(1, 12, 13, 4, 8, 3, 3, 1, 2, 2)},
      {"misaligned", conv_shape(2, 13, 13, 16, 24, 3, 3, 1, 1), false, 1},
      {"misaligned_s2", conv_shape(2, 12, 11, 8, 16, 3, 3, 2, 1), false, 3},
  };
}

template <typename T>
std::vector<T> convert(const std::vector<float>& v) {
  if constexpr (std::is_same_v<T, half>)
    return test::to_half(v);
  else
    return v;
}
inline float f(float v) { return v; }
inline float f(half v) { return half_to_float(v); }
template <typename T>
std::vector<float> floats(const std::vector<T>& v) {
  std::vector<float> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = f(v[i]);
  return r;
}

// Random inputs (rounded to the storage type so the reference sees exactly what the GPU does) and
// the reference results: y with bias + ReLU, dx, and dw accumulated onto dw0.
template <typename T>
struct RefProblem {
  std::vector<T> x, w, dy, y_ref, dx_ref;
  std::vector<float> bias, dw0, dw_ref;
  explicit RefProblem(const Conv2dShape& sh)
      : x(convert<T>(test::random_uniform(sh.x_elems(), -1, 1, test::kSeed))),
        w(convert<T>(test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 1))),
        dy(convert<T>(test::random_uniform(sh.y_elems(), -1, 1, test::kSeed + 2))),
        y_ref(sh.y_elems()),
        dx_ref(sh.x_elems()),
        bias(test::random_uniform(sh.k, -0.5f, 0.5f, test::kSeed + 3)),
        dw0(test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 4)),
        dw_ref(dw0) {
    kernels::conv2d_forward_ref(sh, x.data(), w.data(), bias.data(), y_ref.data(), Activation::relu);
    kernels::conv2d_backward_data_ref(sh, dy.data(), w.data(), dx_ref.data());
    kernels::conv2d_backward_filter_ref(sh, x.data(), dy.data(), dw_ref.data(), true);
  }
};

// Device copy of host data, `offset` elements into its buffer; poison() fills it with NaN bytes.
template <typename T>
struct Dev {
  DeviceBuffer buf;
  T* ptr;
  std::size_t n;
  Dev(std::size_t count, int offset) : buf((count + offset + 16) * sizeof(T), 0, cuda::current_stream()), n(count) {
    ptr = buf.as<T>() + offset;
  }
  Dev(const std::vector<T>& host, int offset) : Dev(host.size(), offset) { put(host); }
  void put(const std::vector<T>& host) {
    TILENET_CUDA_CHECK(cudaMemcpyAsync(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice, cuda::current_stream()));
  }
  void poison() { TILENET_CUDA_CHECK(cudaMemsetAsync(ptr, 0xFF, n * sizeof(T), cuda::current_stream())); }
  std::vector<float> get() const {
    std::vector<T> h(n);
    TILENET_CUDA_CHECK(cudaMemcpyAsync(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost, cuda::current_stream()));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
    return floats(h);
  }
};

// Tolerances: fp32 accumulates in a different order than the double reference; fp16 results are
// rounded to fp16 once (a couple of ulps) after fp32 accumulation of exact products.
struct Tol {
  double atol, rtol;
};
Tol tol_for(bool half_out, double reduction) {
  if (half_out) return {5e-4 * std::sqrt(reduction) + 1e-3, 2e-3};
  return {2e-6 * std::sqrt(reduction) * std::sqrt(reduction / 16 + 1) + 1e-5, 1e-4};
}

// Runs check(algo) for every algorithm; one that throws is reported and the others still run.
template <typename F>
void for_each_algorithm(F&& check) {
  for (Conv2dAlgo algo : kernels::conv2d_algos()) {
    SCOPED_TRACE(kernels::conv2d_algo_name(algo));
    try {
      check(algo);
    } catch (const std::exception& e) {
      ADD_FAILURE() << kernels::conv2d_algo_name(algo) << " threw: " << e.what();
    }
  }
}

class Conv2dGpu : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    TILENET_REQUIRE_GPU();
    if (GetParam().big && test::small_mode()) GTEST_SKIP() << "small mode";
  }

  template <typename T>
  void run_all() {
    const Case& cs = GetParam();
    const Conv2dShape sh = cs.sh;
    constexpr bool hp = std::is_same_v<T, half>;
    SCOPED_TRACE(cs.name + " " + sh.str() + (hp ? " f16" : " f32") + " seed " + std::to_string(test::kSeed));
    const RefProblem<T> pr(sh);
    const auto &x = pr.x, &w = pr.w, &dy = pr.dy, &y_ref = pr.y_ref, &dx_ref = pr.dx_ref;
    const auto &bias = pr.bias, &dw0 = pr.dw0, &dw_ref = pr.dw_ref;
    std::vector<float> dw_ref_over(sh.w_elems());
    kernels::conv2d_backward_filter_ref(sh, x.data(), dy.data(), dw_ref_over.data(), false);
    ASSERT_GT(test::l2_norm(floats(y_ref)), 0.0);
    ASSERT_GT(test::l2_norm(floats(dx_ref)), 0.0);
    ASSERT_GT(test::l2_norm(dw_ref_over), 0.0);

    const int off = cs.misalign;
    Dev<T> dx_(x, off), dw_(w, off), ddy(dy, off);
    Dev<float> dbias(bias, 0);
    Dev<T> dy_out(sh.y_elems(), off), dx_out(sh.x_elems(), off);
    Dev<float> dw32(sh.w_elems(), off);
    Dev<T> dwT(sh.w_elems(), off);
    cudaStream_t st = cuda::current_stream();

    for_each_algorithm([&](Conv2dAlgo algo) {
      // forward with bias + ReLU
      {
        const std::size_t bytes = kernels::conv2d_workspace_bytes(sh, Conv2dPass::forward, hp, algo);
        DeviceBuffer ws(bytes, 0, st);
        dy_out.poison();
        kernels::conv2d_forward(sh, dx_.ptr, dw_.ptr, dbias.ptr, dy_out.ptr, Activation::relu, ws.data(), bytes, st,
                                algo);
        const Tol t = tol_for(hp, static_cast<double>(sh.gemm_k()));
        EXPECT_TRUE(test::all_close(dy_out.get(), floats(y_ref), t.atol, t.rtol)) << "forward";
      }
      // backward data
      {
        const std::size_t bytes = kernels::conv2d_workspace_bytes(sh, Conv2dPass::backward_data, hp, algo);
        DeviceBuffer ws(bytes, 0, st);
        dx_out.poison();
        kernels::conv2d_backward_data(sh, ddy.ptr, dw_.ptr, dx_out.ptr, ws.data(), bytes, st, algo);
        const Tol t = tol_for(hp, static_cast<double>(sh.k) * sh.r * sh.s);
        EXPECT_TRUE(test::all_close(dx_out.get(), floats(dx_ref), t.atol, t.rtol)) << "backward data";
      }
      // backward filter: f32 dw overwritten and accumulated; f16 dw (f16 inputs) overwritten
      {
        const std::size_t bytes = kernels::conv2d_workspace_bytes(sh, Conv2dPass::backward_filter, hp, algo);
        DeviceBuffer ws(bytes, 0, st);
        const Tol t = tol_for(false, static_cast<double>(sh.gemm_m()));
        dw32.poison();
        kernels::conv2d_backward_filter(sh, dx_.ptr, ddy.ptr, dw32.ptr, false, ws.data(), bytes, st, algo);
        EXPECT_TRUE(test::all_close(dw32.get(), dw_ref_over, t.atol, t.rtol)) << "backward filter (overwrite)";
        dw32.put(dw0);
        kernels::conv2d_backward_filter(sh, dx_.ptr, ddy.ptr, dw32.ptr, true, ws.data(), bytes, st, algo);
        EXPECT_TRUE(test::all_close(dw32.get(), dw_ref, t.atol, t.rtol)) << "backward filter (accumulate)";
        if constexpr (hp) {
          dwT.poison();
          kernels::conv2d_backward_filter(sh, dx_.ptr, ddy.ptr, dwT.ptr, false, ws.data(), bytes, st, algo);
          const Tol th = tol_for(true, static_cast<double>(sh.gemm_m()));
          EXPECT_TRUE(test::all_close(dwT.get(), dw_ref_over, th.atol, th.rtol)) << "backward filter (f16 dw)";
        }
      }
    });
  }
};

TEST_P(Conv2dGpu, F32AllAlgorithmsMatchReference) { run_all<float>(); }
TEST_P(Conv2dGpu, F16AllAlgorithmsMatchReference) { run_all<half>(); }

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dGpu, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// ReLU lets NaN through in every algorithm's forward epilogue, as the reference does: a NaN bias
// channel comes out all NaN. The output is poisoned with a finite value, so only NaNs the
// kernel wrote count.
template <typename T>
void check_relu_keeps_nan_bias() {
  const Conv2dShape sh = conv_shape(2, 13, 13, 16, 24, 3, 3, 1, 1);
  constexpr bool hp = std::is_same_v<T, half>;
  constexpr int kNanChannel = 5;
  const auto x = convert<T>(test::random_uniform(sh.x_elems(), -1, 1, test::kSeed));
  const auto w = convert<T>(test::random_uniform(sh.w_elems(), -1, 1, test::kSeed + 1));
  auto bias = test::random_uniform(sh.k, -0.5f, 0.5f, test::kSeed + 3);
  bias[kNanChannel] = std::numeric_limits<float>::quiet_NaN();
  std::vector<T> y_ref(sh.y_elems());
  kernels::conv2d_forward_ref(sh, x.data(), w.data(), bias.data(), y_ref.data(), Activation::relu);
  Dev<T> dx(x, 0), dw(w, 0), y(sh.y_elems(), 0);
  Dev<float> db(bias, 0);
  const std::vector<T> seven = convert<T>(std::vector<float>(sh.y_elems(), 7.0f));
  cudaStream_t st = cuda::current_stream();
  for_each_algorithm([&](Conv2dAlgo algo) {
    const std::size_t bytes = kernels::conv2d_workspace_bytes(sh, Conv2dPass::forward, hp, algo);
    DeviceBuffer ws(bytes, 0, st);
    y.put(seven);
    kernels::conv2d_forward(sh, dx.ptr, dw.ptr, db.ptr, y.ptr, Activation::relu, ws.data(), bytes, st, algo);
    const std::vector<float> got = y.get();
    std::int64_t nans = 0, finite_in_nan_channel = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      nans += std::isnan(got[i]);
      finite_in_nan_channel += static_cast<int>(i % sh.k) == kNanChannel && !std::isnan(got[i]);
    }
    EXPECT_EQ(finite_in_nan_channel, 0) << "elements of the NaN-bias channel that are not NaN";
    EXPECT_EQ(nans, static_cast<std::int64_t>(sh.y_elems() / sh.k));
    const Tol t = tol_for(hp, static_cast<double>(sh.gemm_k()));
    EXPECT_TRUE(test::all_close(got, floats(y_ref), t.atol, t.rtol));
  });
}

TEST(Conv2dGpuRelu, NaNBiasPassesF32) {
  TILENET_REQUIRE_GPU();
  check_relu_keeps_nan_bias<float>();
}
TEST(Conv2dGpuRelu, NaNBiasPassesF16) {
  TILENET_REQUIRE_GPU();
  check_relu_keeps_nan_bias<half>();
}

// Hopper only: Auto's way to the wgmma tile. Settling the convolution's gate (its self-check runs
// the tile on every pass) must pass; Auto then takes the tile for AlexNet's conv3 at
// batch 128 (three full 128-wide column tiles, 169 row tiles), and the workspace Auto asks for
// covers both what it ran before the verdict and what it runs after.
TEST(Conv2dGpuWgmma, AutoTakesTheHopperTileOnceTheSelfCheckPasses) {
  TILENET_REQUIRE_GPU();
  if (!kernels::sm90a_kernels_available()) GTEST_SKIP() << "no sm_90a device / build";
  if (kernels::wgmma_disabled_by_environment()) GTEST_SKIP() << "TILENET_DISABLE_WGMMA is set";
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  kernels::gemm_settle_auto(nullptr);
  ASSERT_TRUE(kernels::wgmma_conv_auto_gate().verdict(dev).has_value());
  ASSERT_TRUE(*kernels::wgmma_conv_auto_gate().verdict(dev)) << "the conv wgmma self-check failed (see stderr)";
  const Conv2dShape conv3 = conv_shape(128, 13, 13, 192, 384, 3, 3, 1, 1);
  EXPECT_EQ(kernels::conv2d_choose_algo(conv3, Conv2dPass::forward, true), Conv2dAlgo::ImplicitGemmWgmma);
  EXPECT_EQ(kernels::conv2d_choose_algo(conv3, Conv2dPass::forward, false), Conv2dAlgo::ImplicitGemm);
  for (Conv2dPass pass : {Conv2dPass::forward, Conv2dPass::backward_data, Conv2dPass::backward_filter}) {
    SCOPED_TRACE(kernels::conv2d_pass_name(pass));
    const std::size_t any = kernels::conv2d_workspace_bytes(conv3, pass, true);
    EXPECT_GE(any, kernels::conv2d_workspace_bytes(conv3, pass, true, Conv2dAlgo::ImplicitGemm));
    EXPECT_GE(any, kernels::conv2d_workspace_bytes(conv3, pass, true, Conv2dAlgo::ImplicitGemmWgmma));
  }
}

// Autotuning (conv2d_set_autotune): Auto's first launch of each pass searches on the launch's own
// buffers and keeps a result; the launches are still right (poisoned outputs against the
// reference), an accumulating backward-filter keeps what dw held (its trials go to a scratch dw),
// a second launch does not search again, conv2d_choose_algo reports the pick, misaligned
// operands are a search of their own, a workspace that covers im2col adds it to the candidates,
// and a launch under stream capture neither searches nor records but still computes.
class AutotuneOn {
 public:
  AutotuneOn() {
    kernels::conv2d_autotune_reset();
    kernels::conv2d_set_autotune(true);
  }
  ~AutotuneOn() {
    kernels::conv2d_set_autotune(false);
    kernels::conv2d_autotune_reset();
  }
};

template <typename T>
void check_autotune() {
  constexpr bool hp = std::is_same_v<T, half>;
  const Conv2dShape sh = conv_shape(2, 9, 10, 16, 24, 3, 3, 2, 1);
  SCOPED_TRACE(sh.str() + (hp ? " f16" : " f32"));
  const RefProblem<T> pr(sh);
  const auto &x = pr.x, &w = pr.w, &dy = pr.dy, &y_ref = pr.y_ref, &dx_ref = pr.dx_ref;
  const auto &bias = pr.bias, &dw0 = pr.dw0, &dw_ref = pr.dw_ref;
  cudaStream_t st = cuda::current_stream();
  AutotuneOn on;
  const auto ws_bytes = [&](Conv2dPass pass) { return kernels::conv2d_workspace_bytes(sh, pass, hp); };
  for (Conv2dPass pass : {Conv2dPass::forward, Conv2dPass::backward_data, Conv2dPass::backward_filter})
    for (Conv2dAlgo a : {Conv2dAlgo::ImplicitGemm, Conv2dAlgo::ImplicitGemmLargeTile, Conv2dAlgo::ImplicitGemmSmallTile,
                         Conv2dAlgo::ImplicitGemm8Warps})
      EXPECT_GE(ws_bytes(pass), kernels::conv2d_workspace_bytes(sh, pass, hp, a)) << kernels::conv2d_pass_name(pass);

  for (int misalign : {0, 1}) {
    SCOPED_TRACE("misalign " + std::to_string(misalign));
    Dev<T> dx_(x, misalign), dw_(w, misalign), ddy(dy, misalign);
    Dev<float> dbias(bias, 0);
    Dev<T> y_out(sh.y_elems(), misalign), dx_out(sh.x_elems(), misalign);
    Dev<float> dw_out(sh.w_elems(), misalign);
    const std::size_t before = kernels::conv2d_autotune_results().size();
    for (int rep = 0; rep < 2; ++rep) {  // the second launch finds the first one's result
      DeviceBuffer wf(ws_bytes(Conv2dPass::forward), 0, st), wd(ws_bytes(Conv2dPass::backward_data), 0, st),
          wb(ws_bytes(Conv2dPass::backward_filter), 0, st);
      y_out.poison();
      kernels::conv2d_forward(sh, dx_.ptr, dw_.ptr, dbias.ptr, y_out.ptr, Activation::relu, wf.data(), wf.size(), st);
      const Tol tf = tol_for(hp, static_cast<double>(sh.gemm_k()));
      EXPECT_TRUE(test::all_close(y_out.get(), floats(y_ref), tf.atol, tf.rtol)) << "forward";
      dx_out.poison();
      kernels::conv2d_backward_data(sh, ddy.ptr, dw_.ptr, dx_out.ptr, wd.data(), wd.size(), st);
      const Tol td = tol_for(hp, static_cast<double>(sh.k) * sh.r * sh.s);
      EXPECT_TRUE(test::all_close(dx_out.get(), floats(dx_ref), td.atol, td.rtol)) << "backward data";
      dw_out.put(dw0);
      kernels::conv2d_backward_filter(sh, dx_.ptr, ddy.ptr, dw_out.ptr, true, wb.data(), wb.size(), st);
      const Tol tb = tol_for(false, static_cast<double>(sh.gemm_m()));
      EXPECT_TRUE(test::all_close(dw_out.get(), dw_ref, tb.atol, tb.rtol)) << "backward filter (accumulate)";
      EXPECT_EQ(kernels::conv2d_autotune_results().size(), before + 3) << "rep " << rep;
    }
  }
  const auto results = kernels::conv2d_autotune_results();
  ASSERT_EQ(results.size(), 6u);
  for (const kernels::Conv2dAutotuneResult& r : results) {
    SCOPED_TRACE(std::string(kernels::conv2d_pass_name(r.pass)) + (r.vector_loads ? " vector" : " element-wise"));
    EXPECT_EQ(r.half_inputs, hp);
    EXPECT_EQ(r.shape.str(), sh.str());
    // Aligned operands have at least two distinct tiles to time (the element-wise loaders may have one).
    ASSERT_GE(r.times.size(), r.vector_loads ? 2u : 1u);
    for (std::size_t i = 0; i < r.times.size(); ++i) {
      EXPECT_GT(r.times[i].ms, 0.0f);
      EXPECT_LE(r.times[i].workspace_bytes, ws_bytes(r.pass)) << "fits the workspace the launches had";
      if (i) EXPECT_LE(r.times[i - 1].ms, r.times[i].ms) << "fastest first";
      EXPECT_NE(r.times[i].algo, Conv2dAlgo::Im2colGemm) << "its workspace was not given";
      EXPECT_NE(r.times[i].algo, Conv2dAlgo::Auto);
    }
  }
  // The aligned launches were searched first: conv2d_choose_algo reports their pick.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(results[i].vector_loads);
    EXPECT_EQ(kernels::conv2d_choose_algo(sh, results[i].pass, hp), results[i].times[0].algo);
  }
  EXPECT_FALSE(results[3].vector_loads);

  // A workspace that covers im2col makes it a candidate.
  kernels::conv2d_autotune_reset();
  {
    Dev<T> dx_(x, 0), dw_(w, 0);
    Dev<float> dbias(bias, 0);
    Dev<T> y_out(sh.y_elems(), 0);
    const std::size_t big = std::max(ws_bytes(Conv2dPass::forward),
                                      kernels::conv2d_workspace_bytes(sh, Conv2dPass::forward, hp, Conv2dAlgo::Im2colGemm));
    DeviceBuffer ws(big, 0, st);
    y_out.poison();
    kernels::conv2d_forward(sh, dx_.ptr, dw_.ptr, dbias.ptr, y_out.ptr, Activation::relu, ws.data(), big, st);
    const Tol tf = tol_for(hp, static_cast<double>(sh.gemm_k()));
    EXPECT_TRUE(test::all_close(y_out.get(), floats(y_ref), tf.atol, tf.rtol)) << "forward, im2col workspace";
    const auto r = kernels::conv2d_autotune_results();
    ASSERT_EQ(r.size(), 1u);
    bool im2col = false;
    for (const auto& t : r[0].times) im2col |= t.algo == Conv2dAlgo::Im2colGemm;
    EXPECT_TRUE(im2col);
  }

  // Under stream capture: no search, nothing recorded; the captured launch computes.
  kernels::conv2d_autotune_reset();
  {
    cudaStream_t cs = nullptr;
    TILENET_CUDA_CHECK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
    Dev<T> dx_(x, 0), dw_(w, 0);
    Dev<float> dbias(bias, 0);
    Dev<T> y_out(sh.y_elems(), 0);
    DeviceBuffer ws(ws_bytes(Conv2dPass::forward), 0, st);
    y_out.poison();
    TILENET_CUDA_CHECK(cudaStreamSynchronize(st));
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    TILENET_CUDA_CHECK(cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal));
    kernels::conv2d_forward(sh, dx_.ptr, dw_.ptr, dbias.ptr, y_out.ptr, Activation::relu, ws.data(), ws.size(), cs);
    TILENET_CUDA_CHECK(cudaStreamEndCapture(cs, &graph));
    EXPECT_TRUE(kernels::conv2d_autotune_results().empty());
    TILENET_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    TILENET_CUDA_CHECK(cudaGraphLaunch(exec, cs));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(cs));
    const Tol tf = tol_for(hp, static_cast<double>(sh.gemm_k()));
    EXPECT_TRUE(test::all_close(y_out.get(), floats(y_ref), tf.atol, tf.rtol)) << "forward, captured";
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(cs);
  }
}

TEST(Conv2dGpuAutotune, SearchesOnceAndStaysRightF32) {
  TILENET_REQUIRE_GPU();
  check_autotune<float>();
}
TEST(Conv2dGpuAutotune, SearchesOnceAndStaysRightF16) {
  TILENET_REQUIRE_GPU();
  check_autotune<half>();
}

// A first layer never computes its input gradient: its workspace can leave backward-data out,
// which for AlexNet's conv1 (c = 3: backward-data's dense GEMM + gather buffer) is most of it.
TEST(Conv2dGpuTensor, WorkspaceWithoutBackwardDataCoversTheOtherPasses) {
  TILENET_REQUIRE_GPU();
  Conv2dOptions opt;
  opt.stride_h = opt.stride_w = 4;
  const Shape x{128, 227, 227, 3}, w{64, 11, 11, 3};
  const Conv2dShape sh = conv_shape(128, 227, 227, 3, 64, 11, 11, 4, 0);
  for (DType dt : {DType::f32, DType::f16}) {
    const bool hp = dt == DType::f16;
    const std::size_t fwd = kernels::conv2d_workspace_bytes(sh, Conv2dPass::forward, hp);
    const std::size_t dgrad = kernels::conv2d_workspace_bytes(sh, Conv2dPass::backward_data, hp);
    const std::size_t wgrad = kernels::conv2d_workspace_bytes(sh, Conv2dPass::backward_filter, hp);
    const std::size_t partial = conv2d_workspace_size(x, w, opt, dt, false);
    EXPECT_EQ(partial, std::max(fwd, wgrad));
    EXPECT_EQ(conv2d_workspace_size(x, w, opt, dt), std::max(partial, dgrad));
    EXPECT_LT(4 * partial, dgrad) << "backward-data's gather buffer dominates conv1's workspace";
  }
}

TEST(Conv2dGpuTensor, MatchesCpuPathAndChecksWorkspace) {
  TILENET_REQUIRE_GPU();
  Conv2dOptions opt;
  opt.stride_h = opt.stride_w = 2;
  opt.pad_top = opt.pad_left = 1;
  opt.pad_bottom = opt.pad_right = 2;
  for (DType dt : {DType::f32, DType::f16}) {
    Tensor x = Tensor::uniform({3, 15, 14, 16}, -1, 1, 5, Device::cpu(), dt);
    Tensor w = Tensor::uniform({24, 3, 3, 16}, -1, 1, 6, Device::cpu(), dt);
    Tensor b = Tensor::uniform({24}, -1, 1, 7);
    Tensor y = conv2d_forward(x, w, b, opt, Activation::relu);
    Tensor yg = conv2d_forward(x.cuda(), w.cuda(), b.cuda(), opt, Activation::relu);
    const double tol = dt == DType::f16 ? 2e-2 : 1e-4;
    EXPECT_TRUE(test::all_close(yg.to_vector(), y.to_vector(), tol, tol));
    Tensor dy = Tensor::uniform(y.shape(), -1, 1, 8, Device::cpu(), dt);
    Tensor dx = Tensor::empty(x.shape(), dt), dxg = Tensor::empty(x.shape(), dt, Device::cuda());
    conv2d_backward_data_into(dy, w, dx, opt);
    conv2d_backward_data_into(dy.cuda(), w.cuda(), dxg, opt);
    EXPECT_TRUE(test::all_close(dxg.to_vector(), dx.to_vector(), tol, tol));
    Tensor dw = Tensor::full(w.shape(), 0.5f), dwg = Tensor::full(w.shape(), 0.5f, DType::f32, Device::cuda());
    conv2d_backward_filter_into(x, dy, dw, opt, true);
    conv2d_backward_filter_into(x.cuda(), dy.cuda(), dwg, opt, true);
    EXPECT_TRUE(test::all_close(dwg.to_vector(), dw.to_vector(), 1e-3, 1e-3));
    // Mixed devices are refused.
    EXPECT_THROW(conv2d_forward(x.cuda(), w, b, opt), DeviceError);
  }
  // Too small a workspace is refused with the size it needs.
  Conv2dShape sh = conv_shape(1, 8, 8, 3, 4, 3, 3);
  const std::size_t need = kernels::conv2d_workspace_bytes(sh, Conv2dPass::backward_filter, false);
  ASSERT_GT(need, 0u);
  DeviceBuffer a(sh.x_elems() * 4, 0, cuda::current_stream()), g(sh.y_elems() * 4, 0, cuda::current_stream()),
      d(sh.w_elems() * 4, 0, cuda::current_stream());
  EXPECT_THROW(kernels::conv2d_backward_filter(sh, a.as<float>(), g.as<float>(), d.as<float>(), false, nullptr, 0,
                                               cuda::current_stream()),
               ValueError);
}

}  // namespace
