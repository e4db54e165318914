// GPU GEMM: every algorithm (and Auto) x transpose x shape x epilogue variant against the
// double-precision oracle, on small integers so fp32 and fp16 results are exact: beta = 0 over a
// NaN-poisoned C, beta != 0 with bias and ReLU, padded leading dimensions, misaligned ones that
// force the slow paths, batches whose matrices differ; every forced tile configuration; real
// values with fp16 tolerances; column sums; the Hopper wgmma self-check; argument errors.
// The raw product of each (shape, transposes) is computed once on the CPU and reused.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "tensor/linalg.h"
#include "test_util.h"

using namespace tilenet;
using kernels::Activation;
using kernels::GemmAlgo;
using kernels::GemmParams;

namespace {

struct Mnk {
  std::int64_t m, n, k;
};
const Mnk kShapes[] = {{1, 1, 1},       {7, 5, 3},       {16, 16, 16},   {17, 33, 9},
                       {63, 65, 127},   {129, 257, 65},  {512, 512, 512}, {1000, 1, 1000},
                       {1, 1000, 1000}, {128, 784, 512}, {2048, 2048, 64}};

bool skip_in_small_mode(const Mnk& s) { return test::small_mode() && s.m * s.n * s.k > 20'000'000; }

template <typename T>
struct DevBuf {
  T* p = nullptr;
  std::size_t n = 0;
  explicit DevBuf(std::size_t count) : n(count) {
    TILENET_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), std::max<std::size_t>(n, 1) * sizeof(T)));
  }
  std::size_t bytes() const { return n * sizeof(T); }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
};

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

TEST(GemmGpu, ColumnSums) {
  TILENET_REQUIRE_GPU();
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{1, 1}, {7, 5}, {128, 512}, {100000, 40}, {3000, 1000}};
  for (const auto& [rows, cols] : shapes) {
    if (test::small_mode() && rows * cols > 1'000'000) continue;
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    const auto dy = test::random_ints(static_cast<std::size_t>(rows * cols), -3, 3, 11);
    const auto dyh = test::to_half(dy);
    const auto init = test::random_ints(static_cast<std::size_t>(cols), -5, 5, 12);
    DevBuf<float> d(dy.size()), db(cols);
    DevBuf<half> dh(dy.size());
    TILENET_CUDA_CHECK(cudaMemcpy(d.p, dy.data(), dy.size() * 4, cudaMemcpyHostToDevice));
    TILENET_CUDA_CHECK(cudaMemcpy(dh.p, dyh.data(), dy.size() * 2, cudaMemcpyHostToDevice));
    // With the workspace the tall shapes split their rows (two kernels); without it, one pass.
    const std::size_t ws_bytes = kernels::column_sums_workspace_bytes(rows, cols);
    DevBuf<float> ws(std::max<std::size_t>(ws_bytes / 4, 1));
    for (bool with_ws : {false, true})
      for (bool half_in : {false, true})
        for (bool acc : {false, true}) {
          std::vector<float> want = init, got(cols);
          if (!acc) std::fill(want.begin(), want.end(), test::poison_f32());
          TILENET_CUDA_CHECK(cudaMemcpy(db.p, want.data(), cols * 4, cudaMemcpyHostToDevice));
          void* w = with_ws ? ws.p : nullptr;
          if (half_in) {
            kernels::column_sums(dh.p, rows, cols, db.p, acc, nullptr, w, ws_bytes);
            kernels::column_sums_ref(dyh.data(), rows, cols, want.data(), acc);
          } else {
            kernels::column_sums(d.p, rows, cols, db.p, acc, nullptr, w, ws_bytes);
            kernels::column_sums_ref(dy.data(), rows, cols, want.data(), acc);
          }
          TILENET_CUDA_CHECK(cudaMemcpy(got.data(), db.p, cols * 4, cudaMemcpyDeviceToHost));
          EXPECT_TRUE(test::all_equal(got, want))
              << "half=" << half_in << " accumulate=" << acc << " workspace=" << ws_bytes * with_ws;
        }
  }
}

// Non-integer values on a tall problem (a conv bias gradient's shape): the split sums agree with the
// double reference to rounding and give the same bits on every run (no atomics).
TEST(GemmGpu, ColumnSumsAreDeterministic) {
  TILENET_REQUIRE_GPU();
  const std::int64_t rows = 128 * 27 * 27, cols = 96;
  const std::size_t ws_bytes = kernels::column_sums_workspace_bytes(rows, cols);
  EXPECT_GT(ws_bytes, 0u) << "a tall problem should split its rows";
  const auto dy = test::random_uniform(static_cast<std::size_t>(rows * cols), -1.0f, 1.0f, 21);
  DevBuf<float> d(dy.size()), db(cols), ws(std::max<std::size_t>(ws_bytes / 4, 1));
  TILENET_CUDA_CHECK(cudaMemcpy(d.p, dy.data(), dy.size() * 4, cudaMemcpyHostToDevice));
  std::vector<double> want(cols, 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) want[c] += dy[r * cols + c];
  std::vector<float> first(cols), got(cols);
  for (int run = 0; run < 5; ++run) {
    kernels::column_sums(d.p, rows, cols, db.p, false, nullptr, ws.p, ws_bytes);
    TILENET_CUDA_CHECK(cudaMemcpy(got.data(), db.p, cols * 4, cudaMemcpyDeviceToHost));
    if (run == 0) {
      first = got;
      for (std::int64_t c = 0; c < cols; ++c) EXPECT_NEAR(got[c], want[c], 1e-2) << "column " << c;
    } else {
      EXPECT_EQ(std::memcmp(got.data(), first.data(), cols * 4), 0) << "run " << run << " differs from run 0";
    }
  }
  // A misaligned workspace is refused with the op's name.
  EXPECT_THROW(kernels::column_sums(d.p, rows, cols, db.p, false, nullptr,
                                    reinterpret_cast<char*>(ws.p) + 4, ws_bytes - 4),
               ValueError);
}

// Hopper only: one wgmma problem per transpose and configuration; the message names the first
// wrong element, so a descriptor or fragment-layout bug is visible at once.
TEST(GemmGpu, WgmmaSelfCheck) {
  TILENET_REQUIRE_GPU();
  if (!kernels::sm90a_kernels_available()) GTEST_SKIP() << "no sm_90a device / build";
  EXPECT_EQ(kernels::wgmma_self_check(128, 256, 64), "");   // one tile, one k-slice
  EXPECT_EQ(kernels::wgmma_self_check(128, 256, 512), "");  // ring of stages wraps
  EXPECT_EQ(kernels::wgmma_self_check(200, 264, 136), "");  // ragged M, N, K
  // What the Auto gate runs: every stage's barriers waited on in both parities, two batches.
  EXPECT_EQ(kernels::wgmma_self_check(136, 200, 808, 2), "");
}

// k == 0 is the epilogue alone (C = beta * C + bias) on any width: a row of 1.1 M columns, more
// than the 65535 x 16 a grid.y over columns could cover, with every algorithm asked for.
TEST(GemmGpu, EpilogueOnlyOnAVeryWideRow) {
  TILENET_REQUIRE_GPU();
  const std::int64_t n = 1'100'003;
  const auto c0 = test::random_uniform(n, -2, 2, 41);
  auto bias = test::random_uniform(n, -1, 1, 42);
  bias[n - 2] = std::numeric_limits<float>::quiet_NaN();  // passes ReLU, as in the references
  std::vector<float> want(n);
  for (std::int64_t j = 0; j < n; ++j) {
    const float v = 0.5f * c0[j] + bias[j];
    want[j] = v < 0.0f ? 0.0f : v;
  }
  DevBuf<float> dc(n), dbias(n);
  TILENET_CUDA_CHECK(cudaMemcpy(dbias.p, bias.data(), n * 4, cudaMemcpyHostToDevice));
  GemmParams gp;
  gp.m = 1, gp.n = n, gp.k = 0, gp.beta = 0.5f, gp.bias = dbias.p, gp.act = Activation::relu;
  std::vector<float> got(n);
  std::vector<GemmAlgo> algos = kernels::gemm_algos(false);
  algos.push_back(GemmAlgo::Auto);
  for (GemmAlgo algo : algos) {
    SCOPED_TRACE(kernels::gemm_algo_name(algo));
    TILENET_CUDA_CHECK(cudaMemcpy(dc.p, c0.data(), n * 4, cudaMemcpyHostToDevice));
    kernels::gemm(gp, static_cast<const float*>(nullptr), static_cast<const float*>(nullptr), dc.p, nullptr, algo);
    TILENET_CUDA_CHECK(cudaMemcpy(got.data(), dc.p, n * 4, cudaMemcpyDeviceToHost));
    EXPECT_TRUE(test::all_close(got, want, 1e-6, 1e-6));
  }
}

// More rows than grid.y can hold (65535 blocks of 16): the naive kernel strides its rows over
// grid.y, for the epilogue-only product (k == 0) and for k > 0. Three columns: odd, so scalar
// stores. An unwritten row would keep its random C.
TEST(GemmGpu, NaiveStridesRowsOfAVeryTallMatrix) {
  TILENET_REQUIRE_GPU();
  const std::int64_t m = 1'100'003, n = 3;
  const auto a = test::random_uniform(m, -1, 1, 43), c0 = test::random_uniform(m * n, -2, 2, 44);
  const std::vector<float> b = {0.5f, -1.25f, 2.0f}, bias = {0.25f, -0.5f, 0.125f};
  DevBuf<float> da(m), db(n), dc(m * n), dbias(n);
  TILENET_CUDA_CHECK(cudaMemcpy(da.p, a.data(), m * 4, cudaMemcpyHostToDevice));
  TILENET_CUDA_CHECK(cudaMemcpy(db.p, b.data(), n * 4, cudaMemcpyHostToDevice));
  TILENET_CUDA_CHECK(cudaMemcpy(dbias.p, bias.data(), n * 4, cudaMemcpyHostToDevice));
  std::vector<float> got(m * n), want(m * n);
  for (const int k : {0, 1}) {
    SCOPED_TRACE(k);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        const float v = (k ? a[i] * b[j] : 0.0f) + 0.5f * c0[i * n + j] + bias[j];
        want[i * n + j] = v < 0.0f ? 0.0f : v;
      }
    GemmParams gp;
    gp.m = m, gp.n = n, gp.k = k, gp.beta = 0.5f, gp.bias = dbias.p, gp.act = Activation::relu;
    TILENET_CUDA_CHECK(cudaMemcpy(dc.p, c0.data(), m * n * 4, cudaMemcpyHostToDevice));
    kernels::gemm(gp, static_cast<const float*>(da.p), static_cast<const float*>(db.p), dc.p, nullptr,
                  GemmAlgo::Naive);
    TILENET_CUDA_CHECK(cudaMemcpy(got.data(), dc.p, m * n * 4, cudaMemcpyDeviceToHost));
    EXPECT_TRUE(test::all_close(got, want, 1e-6, 1e-6));
  }
}

TEST(GemmGpu, ArgumentErrors) {
  TILENET_REQUIRE_GPU();
  DevBuf<float> a(64), b(64), c(64);
  DevBuf<half> ah(64), bh(64);
  GemmParams gp;
  gp.m = gp.n = gp.k = 4;
  EXPECT_THROW(kernels::gemm(gp, a.p, b.p, c.p, nullptr, GemmAlgo::Wmma), ValueError);
  EXPECT_THROW(kernels::gemm(gp, ah.p, bh.p, c.p, nullptr, GemmAlgo::WarpTiled), ValueError);
  GemmParams bad = gp;
  bad.lda = 2;
  EXPECT_THROW(kernels::gemm(bad, a.p, b.p, c.p, nullptr), ValueError);
  EXPECT_THROW(kernels::gemm(gp, a.p, nullptr, c.p, nullptr), ValueError);
  EXPECT_THROW(kernels::gemm_with_config(gp, a.p, b.p, c.p, nullptr, GemmAlgo::WarpTiled, 99), ValueError);
}

TEST(GemmGpu, MatmulOnCudaTensors) {
  TILENET_REQUIRE_GPU();
  const Device dev = Device::cuda(0);
  Tensor a = Tensor::from_vector(test::random_ints(128 * 784, -2, 2, 3), {128, 784}, dev);
  Tensor w = Tensor::from_vector(test::random_ints(784 * 512, -2, 2, 4), {784, 512}, dev);
  Tensor bias = Tensor::from_vector(test::random_ints(512, -2, 2, 5), {512}, dev);
  Tensor out = Tensor::empty({128, 512}, DType::f32, dev);
  matmul_into(a, w, out, false, false, 1.0f, 0.0f, bias, Activation::relu);
  Tensor out_cpu = Tensor::empty({128, 512});
  matmul_into(a.cpu(), w.cpu(), out_cpu, false, false, 1.0f, 0.0f, bias.cpu(), Activation::relu);
  EXPECT_TRUE(test::all_equal(out.to_vector(), out_cpu.to_vector()));
  Tensor dw = matmul(a, out, true, false);  // [784, 512]
  EXPECT_TRUE(test::all_equal(dw.to_vector(), matmul(a.cpu(), out_cpu, true, false).to_vector()));
  Tensor db = Tensor::empty({512}, DType::f32, dev);
  column_sums_into(out, db);
  Tensor db_cpu = Tensor::empty({512});
  column_sums_into(out_cpu, db_cpu);
  EXPECT_TRUE(test::all_equal(db.to_vector(), db_cpu.to_vector()));
  Tensor h = matmul(a.to(DType::f16), w.to(DType::f16));
  EXPECT_EQ(h.dtype(), DType::f16);
  EXPECT_TRUE(test::all_close(h.to_vector(), matmul(a.cpu(), w.cpu()).to_vector(), 0, 1e-3));
}
