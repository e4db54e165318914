// GPU GEMM: every algorithm (and Auto) x transpose x shape x epilogue variant against the
// double-precision oracle, on small integers so fp32 and fp16 results are exact: beta = 0 over a
// NaN-poisoned C, beta != 0 with bias and ReLU, padded leading dimensions, misaligned ones that
// force the slow paths, batches whose matrices differ; every forced tile configuration; real
// values with fp16 tolerances. Column sums, the wgmma self-check, edge shapes and argument
// errors: test_gemm_gpu_edges.cpp.
// The raw product of each (shape, transposes) is computed once on the CPU and reused.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gemm_gpu_util.h"
#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "tensor/linalg.h"
#include "test_util.h"

using namespace tilenet;
using kernels::Activation;
using kernels::GemmAlgo;
using kernels::GemmParams;
using test::DevBuf;

namespace {

struct Mnk {
  std::int64_t m, n, k;
};
const Mnk kShapes[] = {{1, 1, 1},       {7, 5, 3},       {16, 16, 16},   {17, 33, 9},
                       {63, 65, 127},   {129, 257, 65},  {512, 512, 512}, {1000, 1, 1000},
                       {1, 1000, 1000}, {128, 784, 512}, {2048, 2048, 64}};

bool skip_in_small_mode(const Mnk& s) { return test::small_mode() && s.m * s.n * s.k > 20'000'000; }


template <typename T>
T from_f(float v);
template <>
float from_f<float>(float v) { return v; }
template <>
half from_f<half>(float v) { return float_to_half(v); }
inline float to_f(float v) { return v; }
inline float to_f(half v) { return half_to_float(v); }

// One (shape, transposes) problem: stored operands (small integers) and P = op(A) op(B) in double.
struct Base {
  Mnk s;
  bool ta, tb;
  std::int64_t ra, ca, rb, cb;  // stored extents
  std::vector<float> a, b;      // packed stored operands
  std::vector<double> p;        // m x n
};

Base make_base(const Mnk& s, bool ta, bool tb, std::uint64_t seed) {
  Base bs{s, ta, tb, ta ? s.k : s.m, ta ? s.m : s.k, tb ? s.n : s.k, tb ? s.k : s.n, {}, {}, {}};
  bs.a = test::random_ints(static_cast<std::size_t>(bs.ra * bs.ca), -3, 3, seed);
  bs.b = test::random_ints(static_cast<std::size_t>(bs.rb * bs.cb), -3, 3, seed + 1);
  std::vector<float> pf(static_cast<std::size_t>(s.m * s.n));
  GemmParams gp;
  gp.m = s.m, gp.n = s.n, gp.k = s.k, gp.trans_a = ta, gp.trans_b = tb;
  kernels::gemm_ref(gp, bs.a.data(), bs.b.data(), pf.data());  // exact on these integers
  bs.p.assign(pf.begin(), pf.end());
  return bs;
}

// An epilogue/layout variant of a base problem.
struct Variant {
  const char* name;
  float alpha, beta;
  bool bias;
  Activation act;
  std::int64_t pad;  // added to each leading dimension (1: misaligned rows)
  int batch;         // batch b uses A * (b ? -1 : 1) and B * (b + 1): products differ per batch
};
const Variant kVariants[] = {
    {"plain", 1.0f, 0.0f, false, Activation::none, 0, 1},
    {"epilogue_padded", 0.5f, -1.5f, true, Activation::relu, 8, 1},
    {"batched", 1.0f, 0.5f, true, Activation::relu, 0, 2},  // old C, bias and ReLU per batch
    {"misaligned", 1.0f, 0.25f, true, Activation::none, 1, 1},
};

// Runs one variant through gemm() with the given types and algorithm; compares every element of
// C (padding and batch gaps must stay NaN) with the oracle.
template <typename TI, typename TO>
::testing::AssertionResult check_variant(const Base& bs, const Variant& v, GemmAlgo algo, int cfg) {
  const Mnk& s = bs.s;
  GemmParams gp;
  gp.m = s.m, gp.n = s.n, gp.k = s.k, gp.trans_a = bs.ta, gp.trans_b = bs.tb;
  gp.lda = bs.ca + v.pad, gp.ldb = bs.cb + v.pad, gp.ldc = s.n + v.pad;
  gp.alpha = v.alpha, gp.beta = v.beta, gp.act = v.act, gp.batch = v.batch;
  gp.stride_a = bs.ra * gp.lda + 8, gp.stride_b = bs.rb * gp.ldb + 8, gp.stride_c = s.m * gp.ldc + 8;
  const float nan = test::poison_f32();
  std::vector<TI> ha(static_cast<std::size_t>(gp.stride_a * v.batch), from_f<TI>(nan));
  std::vector<TI> hb(static_cast<std::size_t>(gp.stride_b * v.batch), from_f<TI>(nan));
  std::vector<float> c0(static_cast<std::size_t>(gp.stride_c * v.batch), nan);
  const std::vector<float> cvals = test::random_ints(static_cast<std::size_t>(s.m * s.n), -4, 4, 77);
  for (int bt = 0; bt < v.batch; ++bt) {
    const float fa = bt ? -1.0f : 1.0f, fb = static_cast<float>(bt + 1);
    for (std::int64_t i = 0; i < bs.ra; ++i)
      for (std::int64_t j = 0; j < bs.ca; ++j) ha[bt * gp.stride_a + i * gp.lda + j] = from_f<TI>(fa * bs.a[i * bs.ca + j]);
    for (std::int64_t i = 0; i < bs.rb; ++i)
      for (std::int64_t j = 0; j < bs.cb; ++j) hb[bt * gp.stride_b + i * gp.ldb + j] = from_f<TI>(fb * bs.b[i * bs.cb + j]);
    if (v.beta != 0.0f)
      for (std::int64_t i = 0; i < s.m; ++i)
        for (std::int64_t j = 0; j < s.n; ++j) c0[bt * gp.stride_c + i * gp.ldc + j] = cvals[i * s.n + j];
  }
  std::vector<float> bias;
  if (v.bias) {
    bias = test::random_ints(static_cast<std::size_t>(s.n), -6, 6, 99);
    for (auto& x : bias) x *= 0.5f;
  }
  // Expected: act(alpha * scale_b * P + beta * C0 + bias), rounded once to TO.
  std::vector<float> want = c0;
  for (int bt = 0; bt < v.batch; ++bt) {
    const double scale = bt ? -1.0 * (bt + 1) : 1.0;
    for (std::int64_t i = 0; i < s.m; ++i)
      for (std::int64_t j = 0; j < s.n; ++j) {
        const std::size_t e = static_cast<std::size_t>(bt * gp.stride_c + i * gp.ldc + j);
        double r = v.alpha * scale * bs.p[i * s.n + j];
        if (v.beta != 0.0f) r += static_cast<double>(v.beta) * c0[e];
        if (v.bias) r += bias[j];
        if (v.act == Activation::relu) r = std::max(r, 0.0);
        want[e] = to_f(from_f<TO>(static_cast<float>(r)));
      }
  }
  std::vector<TO> hc(c0.size());
  for (std::size_t e = 0; e < c0.size(); ++e) hc[e] = from_f<TO>(c0[e]);
  DevBuf<TI> da(ha.size()), db(hb.size());
  DevBuf<TO> dc(hc.size());
  DevBuf<float> dbias(bias.size());
  TILENET_CUDA_CHECK(cudaMemcpy(da.p, ha.data(), ha.size() * sizeof(TI), cudaMemcpyHostToDevice));
  TILENET_CUDA_CHECK(cudaMemcpy(db.p, hb.data(), hb.size() * sizeof(TI), cudaMemcpyHostToDevice));
  TILENET_CUDA_CHECK(cudaMemcpy(dc.p, hc.data(), hc.size() * sizeof(TO), cudaMemcpyHostToDevice));
  if (v.bias) {
    TILENET_CUDA_CHECK(cudaMemcpy(dbias.p, bias.data(), bias.size() * 4, cudaMemcpyHostToDevice));
    gp.bias = dbias.p;
  }
  kernels::gemm_with_config(gp, da.p, db.p, dc.p, nullptr, algo, cfg);
  TILENET_CUDA_CHECK(cudaDeviceSynchronize());
  TILENET_CUDA_CHECK(cudaMemcpy(hc.data(), dc.p, hc.size() * sizeof(TO), cudaMemcpyDeviceToHost));
  std::vector<float> got(hc.size());
  for (std::size_t e = 0; e < hc.size(); ++e) got[e] = to_f(hc[e]);
  return test::all_equal(got, want);
}

std::string label(GemmAlgo algo, int cfg, const Base& bs, const Variant& v) {
  return std::string(kernels::gemm_algo_name(algo)) + (cfg >= 0 ? " cfg " + std::to_string(cfg) : "") + " " +
         std::to_string(bs.s.m) + "x" + std::to_string(bs.s.n) + "x" + std::to_string(bs.s.k) + (bs.ta ? " At" : "") +
         (bs.tb ? " Bt" : "") + " " + v.name;
}

template <typename TI, typename TO>
void every_algorithm_every_shape() {
  std::vector<GemmAlgo> algos = kernels::gemm_algos(sizeof(TI) == 2);
  algos.insert(algos.begin(), GemmAlgo::Auto);
  for (const Mnk& s : kShapes) {
    if (skip_in_small_mode(s)) continue;
    for (int t = 0; t < 4; ++t) {
      const Base bs = make_base(s, t & 1, t & 2, test::kSeed + t);
      for (GemmAlgo algo : algos) {
        // The naive kernels on the largest shapes add minutes under sanitizers and little coverage.
        if (algo == GemmAlgo::Naive && s.m * s.n * s.k > 100'000'000) continue;
        for (const Variant& v : kVariants) {
          SCOPED_TRACE(label(algo, -1, bs, v) + " seed " + std::to_string(test::kSeed + t));
          EXPECT_TRUE((check_variant<TI, TO>(bs, v, algo, -1)));
        }
      }
    }
  }
}

}  // namespace

TEST(GemmGpu, F32AllAlgorithms) {
  TILENET_REQUIRE_GPU();
  every_algorithm_every_shape<float, float>();
}
TEST(GemmGpu, F16InF32OutAllAlgorithms) {
  TILENET_REQUIRE_GPU();
  every_algorithm_every_shape<half, float>();
}
TEST(GemmGpu, F16InF16OutAllAlgorithms) {
  TILENET_REQUIRE_GPU();
  every_algorithm_every_shape<half, half>();
}

// Every forced tile configuration (what the benchmark times) on ragged and aligned shapes.
TEST(GemmGpu, EveryTileConfiguration) {
  TILENET_REQUIRE_GPU();
  const Mnk shapes[] = {{63, 65, 127}, {129, 257, 65}, {300, 520, 200}, {512, 512, 512}};
  for (const auto& ci : kernels::gemm_configs())
    for (const Mnk& s : shapes) {
      if (skip_in_small_mode(s)) continue;
      for (int t = 0; t < 4; ++t) {
        const Base bs = make_base(s, t & 1, t & 2, test::kSeed + 10 + t);
        for (const Variant& v : kVariants) {
          SCOPED_TRACE(ci.name + ": " + label(ci.algo, ci.cfg, bs, v));
          if (ci.half_inputs) {
            EXPECT_TRUE((check_variant<half, float>(bs, v, ci.algo, ci.cfg)));
            EXPECT_TRUE((check_variant<half, half>(bs, v, ci.algo, ci.cfg)));
          } else {
            EXPECT_TRUE((check_variant<float, float>(bs, v, ci.algo, ci.cfg)));
          }
        }
      }
    }
}

// Real-valued inputs: fp32 within rounding; fp16 inputs with tolerances that grow with K.
TEST(GemmGpu, RealValuesWithinTolerance) {
  TILENET_REQUIRE_GPU();
  for (const Mnk& s : {Mnk{77, 301, 1111}, Mnk{256, 256, 4096}}) {
    if (skip_in_small_mode(s)) continue;
    const auto a = test::random_uniform(s.m * s.k, -1, 1, 5), b = test::random_uniform(s.k * s.n, -1, 1, 6);
    const auto ah = test::to_half(a), bh = test::to_half(b);
    GemmParams gp;
    gp.m = s.m, gp.n = s.n, gp.k = s.k;
    std::vector<float> ref32(s.m * s.n), ref16(s.m * s.n);
    kernels::gemm_ref(gp, a.data(), b.data(), ref32.data());
    kernels::gemm_ref(gp, ah.data(), bh.data(), ref16.data());
    ASSERT_GT(test::l2_norm(ref32), 0.0);
    DevBuf<float> da(a.size()), db(b.size()), dc(ref32.size());
    DevBuf<half> dah(a.size()), dbh(b.size()), dch(ref32.size());
    TILENET_CUDA_CHECK(cudaMemcpy(da.p, a.data(), a.size() * 4, cudaMemcpyHostToDevice));
    TILENET_CUDA_CHECK(cudaMemcpy(db.p, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
    TILENET_CUDA_CHECK(cudaMemcpy(dah.p, ah.data(), a.size() * 2, cudaMemcpyHostToDevice));
    TILENET_CUDA_CHECK(cudaMemcpy(dbh.p, bh.data(), b.size() * 2, cudaMemcpyHostToDevice));
    const double sk = std::sqrt(static_cast<double>(s.k));
    std::vector<float> got(ref32.size());
    std::vector<half> goth(ref32.size());
    // Tensor Cores do not round to nearest inside an MMA step: the aligned products are
    // truncated, a one-way drift of up to about half an fp32 ulp of the running sum per k8 step,
    // so fp16-in / fp32-out error grows linearly in K (4096: about 1e-3 here), not as sqrt(K).
    double ref16_max = 0.0;
    for (float r : ref16) ref16_max = std::max(ref16_max, std::fabs(static_cast<double>(r)));
    const double tc_atol = 4e-6 * sk + std::ldexp(1.0, -24) * (s.k / 8.0) * ref16_max;
    // Poisoned before every call (0xff bytes: NaN in fp32 and fp16), so an algorithm that skips
    // elements cannot inherit the previous one's values.
    const auto poison = [&] {
      TILENET_CUDA_CHECK(cudaMemset(dc.p, 0xff, dc.bytes()));
      TILENET_CUDA_CHECK(cudaMemset(dch.p, 0xff, dch.bytes()));
    };
    for (GemmAlgo algo : kernels::gemm_algos(false)) {
      SCOPED_TRACE(std::string("f32 ") + kernels::gemm_algo_name(algo) + " k=" + std::to_string(s.k));
      poison();
      kernels::gemm(gp, da.p, db.p, dc.p, nullptr, algo);
      TILENET_CUDA_CHECK(cudaMemcpy(got.data(), dc.p, got.size() * 4, cudaMemcpyDeviceToHost));
      EXPECT_TRUE(test::all_close(got, ref32, 1e-6 * sk * 4, 1e-5));
    }
    for (GemmAlgo algo : kernels::gemm_algos(true)) {
      SCOPED_TRACE(std::string("f16 ") + kernels::gemm_algo_name(algo) + " k=" + std::to_string(s.k));
      poison();
      kernels::gemm(gp, dah.p, dbh.p, dc.p, nullptr, algo);  // fp32 out: summation order and TC truncation
      TILENET_CUDA_CHECK(cudaMemcpy(got.data(), dc.p, got.size() * 4, cudaMemcpyDeviceToHost));
      EXPECT_TRUE(test::all_close(got, ref16, tc_atol, 1e-5));
      kernels::gemm(gp, dah.p, dbh.p, dch.p, nullptr, algo);  // fp16 out: one rounding of the result
      TILENET_CUDA_CHECK(cudaMemcpy(goth.data(), dch.p, goth.size() * 2, cudaMemcpyDeviceToHost));
      EXPECT_TRUE(test::all_close(test::to_float(goth), ref16, 1e-3 * sk, 1e-3));
    }
  }
}
