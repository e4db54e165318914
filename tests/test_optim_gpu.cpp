// GPU: the fused optimizer step of every optimizer against its CPU reference over a few steps on
// random data (odd sizes, misaligned views), with inverse loss scale, skip flag and clipnorm; the
// finite check, loss-scale update and device-scalar multiply; the Optimizer and LossScaler classes
// on CUDA tensors; a throughput figure.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "kernels/loss_scale.h"
#include "kernels/optimizer.h"
#include "optim/loss_scale.h"
#include "optim/optimizers.h"
#include "tensor/memory.h"
#include "tensor/stream.h"
#include "test_util.h"

using namespace tilenet;
using kernels::OptimizerConfig;
using kernels::OptimizerKind;

namespace {

// Device copy of host floats placed `offset` elements into a fresh buffer.
struct Dev {
  DeviceBuffer buf;
  float* ptr;
  std::size_t n;
  Dev(const std::vector<float>& host, int offset)
      : buf((host.size() + offset + 8) * sizeof(float), 0, cuda::current_stream()), n(host.size()) {
    ptr = buf.as<float>() + offset;
    put(host);
  }
  void put(const std::vector<float>& host) {
    cudaStream_t s = cuda::current_stream();
    if (n) TILENET_CUDA_CHECK(cudaMemcpyAsync(ptr, host.data(), n * 4, cudaMemcpyHostToDevice, s));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  std::vector<float> get() const {
    std::vector<float> h(n);
    cudaStream_t s = cuda::current_stream();
    if (n) TILENET_CUDA_CHECK(cudaMemcpyAsync(h.data(), ptr, n * 4, cudaMemcpyDeviceToHost, s));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(s));
    return h;
  }
};

std::int32_t get_int(const std::int32_t* d) {
  std::int32_t v = 0;
  TILENET_CUDA_CHECK(cudaMemcpy(&v, d, 4, cudaMemcpyDeviceToHost));
  return v;
}

struct Variant {
  const char* name;
  OptimizerConfig c;
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  auto add = [&](const char* name, auto f) {
    OptimizerConfig c;
    f(c);
    v.push_back({name, c});
  };
  add("sgd", [](OptimizerConfig& c) { c.lr = 0.1f; });
  add("sgd_momentum", [](OptimizerConfig& c) { c.lr = 0.1f, c.momentum = 0.9f; });
  add("sgd_nesterov_wd", [](OptimizerConfig& c) { c.lr = 0.1f, c.momentum = 0.8f, c.nesterov = true, c.weight_decay = 0.01f; });
  add("adam", [](OptimizerConfig& c) { c.kind = OptimizerKind::adam, c.lr = 0.01f; });
  add("adamw_amsgrad", [](OptimizerConfig& c) {
    c.kind = OptimizerKind::adam, c.lr = 0.01f, c.amsgrad = true, c.weight_decay = 0.004f;
  });
  add("rmsprop", [](OptimizerConfig& c) { c.kind = OptimizerKind::rmsprop, c.lr = 0.01f; });
  add("rmsprop_momentum", [](OptimizerConfig& c) { c.kind = OptimizerKind::rmsprop, c.lr = 0.01f, c.momentum = 0.5f; });
  add("rmsprop_centered", [](OptimizerConfig& c) {
    c.kind = OptimizerKind::rmsprop, c.lr = 0.01f, c.centered = true, c.momentum = 0.5f, c.weight_decay = 0.01f;
  });
  return v;
}

class OptimGpu : public ::testing::TestWithParam<std::tuple<std::int64_t, int>> {
 protected:
  void SetUp() override { TILENET_REQUIRE_GPU(); }
};

}  // namespace

// Four steps: plain, with inv_scale and clipnorm, skipped (garbage grads), then with the learning
// rate read from device memory (OptimizerBuffers::lr; the by-value lr is a decoy).
TEST_P(OptimGpu, EveryOptimizerMatchesReference) {
  const auto [n, offset] = GetParam();
  if (test::small_mode() && n > 5000) GTEST_SKIP() << "large size skipped in small mode";
  cudaStream_t s = cuda::current_stream();
  for (const Variant& var : variants()) {
    SCOPED_TRACE(testing::Message() << var.name << " n=" << n << " offset=" << offset << " seed=" << test::kSeed);
    std::vector<float> hp = test::random_uniform(n, -1, 1, test::kSeed);
    ASSERT_GT(test::l2_norm(hp), 0.0);
    std::vector<float> hslot[3] = {std::vector<float>(n, 0.0f), std::vector<float>(n, 0.0f), std::vector<float>(n, 0.0f)};
    std::int32_t hstep = 0;
    Dev p(hp, offset), g(std::vector<float>(n), offset), s0(hslot[0], offset), s1(hslot[1], offset),
        s2(hslot[2], offset), scal({1.0f, 0.0f, 0.0f}, 0);
    DeviceBuffer step(4, 0, s), ws(kernels::optimizer_workspace_bytes(), 0, s);
    TILENET_CUDA_CHECK(cudaMemsetAsync(step.data(), 0, 4, s));
    TILENET_CUDA_CHECK(cudaMemsetAsync(ws.data(), 0, kernels::optimizer_workspace_bytes(), s));
    for (int k = 0; k < 4; ++k) {
      OptimizerConfig c = var.c;
      float inv_scale = 1.0f, skip = 0.0f, lr_mem = 0.0f;
      std::vector<float> hg = test::random_uniform(n, -1, 1, test::kSeed + 10 + k);
      if (k == 1) {  // scaled gradients, clipped to a norm below theirs
        inv_scale = 1.0f / 256.0f;
        for (auto& x : hg) x *= 256.0f;
        c.clipnorm = 0.25f * static_cast<float>(std::sqrt(static_cast<double>(n) / 3.0));
      }
      if (k == 2) {
        skip = 1.0f;
        hg[n / 2] = NAN;
      }
      if (k == 3) {
        lr_mem = 0.5f * c.lr;
        c.lr = 123.0f;
      }
      g.put(hg);
      scal.put({inv_scale, skip, lr_mem});
      kernels::OptimizerBuffers b;
      b.params = p.ptr, b.grads = g.ptr, b.n = n, b.slot[0] = s0.ptr, b.slot[1] = s1.ptr, b.slot[2] = s2.ptr;
      b.inv_scale = scal.ptr, b.skip = scal.ptr + 1, b.step = step.as<std::int32_t>(), b.workspace = ws.data();
      b.lr = k == 3 ? scal.ptr + 2 : nullptr;
      kernels::optimizer_step(c, b, s);
      kernels::OptimizerBuffers r = b;
      r.params = hp.data(), r.grads = hg.data(), r.slot[0] = hslot[0].data(), r.slot[1] = hslot[1].data();
      r.slot[2] = hslot[2].data(), r.inv_scale = &inv_scale, r.skip = &skip, r.step = &hstep, r.workspace = nullptr;
      r.lr = k == 3 ? &lr_mem : nullptr;
      kernels::optimizer_step_ref(c, r);
      SCOPED_TRACE(testing::Message() << "step " << k);
      const double rtol = var.c.kind == OptimizerKind::rmsprop && var.c.centered ? 1e-4 : 2e-5;
      ASSERT_TRUE(test::all_close(p.get(), hp, 1e-6, rtol));
      const Dev* slots[3] = {&s0, &s1, &s2};
      for (int q = 0; q < 3; ++q)
        if (kernels::optimizer_slot_used(c, q)) ASSERT_TRUE(test::all_close(slots[q]->get(), hslot[q], 1e-6, rtol)) << "slot " << q;
      ASSERT_EQ(get_int(step.as<std::int32_t>()), hstep);
    }
    EXPECT_EQ(hstep, 3);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, OptimGpu,
                         ::testing::Combine(::testing::Values(1, 7, 8, 1025, (1 << 20) + 3), ::testing::Values(0, 1)));

TEST(OptimGpuClip, NormReductionIsDeterministicAndAccurate) {
  TILENET_REQUIRE_GPU();
  cudaStream_t s = cuda::current_stream();
  const std::int64_t n = test::small_mode() ? 5000 : (1 << 22) + 5;
  const std::vector<float> hg = test::random_uniform(n, -1, 1, test::kSeed);
  Dev g(hg, 0);
  std::vector<float> first;
  for (int rep = 0; rep < 3; ++rep) {
    Dev p(std::vector<float>(n, 0.0f), 0);
    DeviceBuffer step(4, 0, s), ws(kernels::optimizer_workspace_bytes(), 0, s);
    TILENET_CUDA_CHECK(cudaMemsetAsync(step.data(), 0, 4, s));
    TILENET_CUDA_CHECK(cudaMemsetAsync(ws.data(), 0, kernels::optimizer_workspace_bytes(), s));
    OptimizerConfig c;
    c.lr = 1.0f, c.clipnorm = 1.0f;
    kernels::OptimizerBuffers b;
    b.params = p.ptr, b.grads = g.ptr, b.n = n, b.step = step.as<std::int32_t>(), b.workspace = ws.data();
    kernels::optimizer_step(c, b, s);
    const std::vector<float> got = p.get();
    if (rep == 0) {
      first = got;
      // p = -g / |g|: its norm is 1.
      EXPECT_NEAR(test::l2_norm(got), 1.0, 1e-5);
    } else {
      EXPECT_TRUE(test::all_equal(got, first)) << "run " << rep;
    }
  }
}

TEST(LossScaleGpu, CheckFiniteFindsEveryPosition) {
  TILENET_REQUIRE_GPU();
  cudaStream_t s = cuda::current_stream();
  DeviceBuffer scratch(8, 0, s);
  TILENET_CUDA_CHECK(cudaMemsetAsync(scratch.data(), 0, 8, s));
  auto* sc = scratch.as<std::uint32_t>();
  for (std::int64_t n : {1, 7, 9, 1025, (1 << 20) + 3}) {
    if (test::small_mode() && n > 5000) continue;
    for (int offset : {0, 1}) {
      const std::vector<float> clean = test::random_uniform(n, -1e4f, 1e4f, test::kSeed + n);
      for (std::int64_t pos : {std::int64_t(0), n / 2, n - 1}) {
        for (float bad : {NAN, INFINITY, -INFINITY}) {
          SCOPED_TRACE(testing::Message() << "n=" << n << " offset=" << offset << " pos=" << pos << " bad=" << bad);
          std::vector<float> h = clean;
          h[pos] = bad;
          Dev g(h, offset), flag({-1.0f}, 0);
          kernels::check_finite(g.ptr, n, flag.ptr, sc, s);
          EXPECT_EQ(flag.get()[0], 1.0f);
          g.put(clean);  // the scratch words were reset: a clean buffer reads clean
          kernels::check_finite(g.ptr, n, flag.ptr, sc, s);
          EXPECT_EQ(flag.get()[0], 0.0f);
        }
      }
      // Unscale in place: bitwise the reference's.
      std::vector<float> h = clean, want = clean;
      float ref_flag = -1, inv = 1.0f / 1024.0f;
      Dev g(h, offset), flag({-1.0f}, 0), dinv({inv}, 0);
      kernels::check_finite_and_unscale(g.ptr, n, dinv.ptr, flag.ptr, sc, s);
      kernels::check_finite_and_unscale_ref(want.data(), n, &inv, &ref_flag);
      EXPECT_TRUE(test::all_equal(g.get(), want));
      EXPECT_EQ(flag.get()[0], ref_flag);
      // Scale by a device scalar, f32 (f16 is covered by the LossScaler test below).
      Dev x(clean, offset), k({3.0f}, 0);
      std::vector<float> xr = clean;
      const float three = 3.0f;
      kernels::scale_by_device_scalar(x.ptr, n, k.ptr, s);
      kernels::scale_by_device_scalar_ref(xr.data(), n, &three);
      EXPECT_TRUE(test::all_equal(x.get(), xr));
    }
  }
}

TEST(LossScaleGpu, UpdateMatchesReference) {
  TILENET_REQUIRE_GPU();
  kernels::LossScaleConfig c;
  c.growth_interval = 3;
  std::vector<float> ref = {32768.0f, 1.0f / 32768.0f, 0.0f, 0.0f};
  Dev state(ref, 0), flag({0.0f}, 0);
  const float pattern[] = {1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1};
  for (float sk : pattern) {
    flag.put({sk});
    kernels::loss_scale_update(state.ptr, flag.ptr, c, cuda::current_stream());
    kernels::loss_scale_update_ref(ref.data(), &sk, c);
    ASSERT_TRUE(test::all_equal(state.get(), ref));
  }
  EXPECT_EQ(ref[kernels::kLsSkipped], 4.0f);
}

TEST(OptimGpuClasses, OptimizersAndLossScalerOnCudaTensorsMatchCpu) {
  TILENET_REQUIRE_GPU();
  const std::int64_t n = 4099;
  for (const char* name : {"sgd", "adam", "adamw", "rmsprop"}) {
    SCOPED_TRACE(name);
    auto cpu = optim::make_optimizer(name, 0.01f), gpu = optim::make_optimizer(name, 0.01f);
    cpu->set_clipnorm(5.0f), gpu->set_clipnorm(5.0f);
    optim::LossScaler lc(Device::cpu()), lg(Device::cuda());
    Tensor pc = Tensor::uniform({n}, -1, 1, test::kSeed), pg = pc.cuda();
    for (int k = 0; k < 5; ++k) {
      std::vector<float> hg = test::random_uniform(n, -1, 1, test::kSeed + k);
      if (k == 2) hg[7] = INFINITY;
      Tensor dl = Tensor::from_vector(hg, {n});  // "loss gradient" scaled like a real one
      Tensor dg = dl.cuda();
      lc.scale_(dl), lg.scale_(dg);
      lc.check(dl), lg.check(dg);
      cpu->step(pc, dl, lc.control());
      gpu->step(pg, dg, lg.control());
      lc.update(), lg.update();
    }
    EXPECT_TRUE(test::all_close(pg.to_vector(), pc.to_vector(), 1e-6, 2e-5));
    EXPECT_EQ(lg.skipped_steps(), 1);
    EXPECT_EQ(lg.current_scale(), lc.current_scale());
    auto* fg = dynamic_cast<optim::FusedOptimizer*>(gpu.get());
    ASSERT_NE(fg, nullptr);
    EXPECT_EQ(fg->applied_steps(), 4);
    // State saved on the GPU restores on the CPU and continues alike.
    auto again = optim::make_optimizer(name, 0.01f);
    again->load_state(gpu->state());
    Tensor pa = pg.cpu();
    const Tensor g = Tensor::uniform({n}, -1, 1, 99);
    again->step(pa, g);
    gpu->step(pg, g.cuda());
    EXPECT_TRUE(test::all_close(pg.to_vector(), pa.to_vector(), 1e-6, 2e-5));
  }
  // f16 loss-gradient scaling matches the CPU bitwise.
  optim::LossScaler lg(Device::cuda()), lc(Device::cpu());
  Tensor h = Tensor::uniform({1027}, -2, 2, 5, Device::cpu(), DType::f16), hg = h.cuda();
  lc.scale_(h), lg.scale_(hg);
  EXPECT_TRUE(test::all_equal(hg.to_vector(), h.to_vector()));
}

TEST(OptimGpuThroughput, AdamStepBandwidth) {
  TILENET_REQUIRE_GPU();
  if (test::small_mode()) GTEST_SKIP() << "timing skipped in small mode";
  const std::int64_t n = 1 << 26;  // 64M parameters: 1.25 GB moved per Adam step
  optim::Adam adam;
  optim::SGD sgd(0.01f, 0.9f);
  Tensor p = Tensor::uniform({n}, -1, 1, 1, Device::cuda()), g = Tensor::uniform({n}, -1, 1, 2, Device::cuda());
  cudaStream_t s = cuda::current_stream();
  cudaEvent_t a, b;
  TILENET_CUDA_CHECK(cudaEventCreate(&a));
  TILENET_CUDA_CHECK(cudaEventCreate(&b));
  for (auto [opt, bytes_per] : {std::pair<optim::Optimizer*, int>{&adam, 4 * 7}, {&sgd, 4 * 5}}) {
    for (bool clip : {false, true}) {
      opt->set_clipnorm(clip ? 1.0f : 0.0f);
      for (int w = 0; w < 3; ++w) opt->step(p, g);
      const int iters = 20;
      TILENET_CUDA_CHECK(cudaEventRecord(a, s));
      for (int i = 0; i < iters; ++i) opt->step(p, g);
      TILENET_CUDA_CHECK(cudaEventRecord(b, s));
      TILENET_CUDA_CHECK(cudaEventSynchronize(b));
      float ms = 0;
      TILENET_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
      const double moved = static_cast<double>(n) * (bytes_per + (clip ? 4 : 0));
      std::printf("[ perf ] %s%s step, %lld params: %.3f ms, %.0f GB/s\n", opt->name().c_str(),
                  clip ? " + clipnorm" : "", static_cast<long long>(n), ms / iters, moved / (ms / iters * 1e-3) / 1e9);
    }
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  // 92 steps with |g| <= 1, clipped half the time: the parameters stay finite.
  const std::vector<float> pv = p.to_vector();
  EXPECT_TRUE(std::all_of(pv.begin(), pv.end(), [](float v) { return std::isfinite(v); }));
}
