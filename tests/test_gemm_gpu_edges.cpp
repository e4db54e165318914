// GPU GEMM beyond the algorithm x shape x epilogue sweep of test_gemm_gpu.cpp: column sums (the
// bias gradient), the Hopper wgmma self-check, the epilogue alone (k == 0) on a very wide row, the
// naive kernel's row striding on a very tall matrix, argument errors, and matmul on CUDA tensors.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gemm_gpu_util.h"
#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"
#include "kernels/gemm_wgmma_gate.h"
#include "kernels/launch.h"
#include "tensor/linalg.h"
#include "test_util.h"

using namespace tilenet;
using kernels::Activation;
using kernels::GemmAlgo;
using kernels::GemmParams;
using test::DevBuf;

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

// Hopper only: Auto's own way to wgmma. The first fp16 problem big enough for it (here just past
// half the SMs in 128 x 128 tiles) runs the gate's self-check, which must pass and be kept; Auto then
// runs wgmma, and the product is exact on small integers.
TEST(GemmGpu, AutoTakesWgmmaOnHopperOnceTheSelfCheckPasses) {
  TILENET_REQUIRE_GPU();
  if (!kernels::sm90a_kernels_available()) GTEST_SKIP() << "no sm_90a device / build";
  if (kernels::wgmma_disabled_by_environment()) GTEST_SKIP() << "TILENET_DISABLE_WGMMA is set";
  int dev = 0, sms = 0;  // sm_90a images run on compute capability 9.0 devices only
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  TILENET_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  GemmParams p;
  p.m = 1024;                                  // 8 row tiles
  p.n = 128 * ((sms / 2 + 7) / 8) - 40;        // enough column tiles, the last one ragged
  p.k = 24;                                    // one ragged k-slice
  EXPECT_EQ(kernels::gemm_auto_choice(p, true), GemmAlgo::Wgmma);
  ASSERT_TRUE(kernels::wgmma_auto_gate().verdict(dev).has_value());
  EXPECT_TRUE(*kernels::wgmma_auto_gate().verdict(dev));
  const auto a = test::random_ints(static_cast<std::size_t>(p.m * p.k), -3, 3, 21);
  const auto b = test::random_ints(static_cast<std::size_t>(p.k * p.n), -3, 3, 22);
  const auto ah = test::to_half(a), bh = test::to_half(b);
  std::vector<float> want(static_cast<std::size_t>(p.m * p.n)), got(want.size());
  kernels::gemm_ref(p, ah.data(), bh.data(), want.data());
  DevBuf<half> da(ah.size()), db(bh.size());
  DevBuf<float> dc(want.size());
  TILENET_CUDA_CHECK(cudaMemcpy(da.p, ah.data(), da.bytes(), cudaMemcpyHostToDevice));
  TILENET_CUDA_CHECK(cudaMemcpy(db.p, bh.data(), db.bytes(), cudaMemcpyHostToDevice));
  TILENET_CUDA_CHECK(cudaMemset(dc.p, 0xff, dc.bytes()));  // NaN
  kernels::gemm(p, da.p, db.p, dc.p, nullptr);
  TILENET_CUDA_CHECK(cudaMemcpy(got.data(), dc.p, dc.bytes(), cudaMemcpyDeviceToHost));
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
  EXPECT_EQ(bad, 0u) << "first: " << got[0] << " vs " << want[0];
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
