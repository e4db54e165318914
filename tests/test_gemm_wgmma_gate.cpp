// The gate in front of GemmAlgo::Auto's use of wgmma (kernels/gemm_wgmma_gate.h), with stand-in
// checks: once per device, the verdict kept, a failure (or a throw) disabling wgmma with exactly
// one warning line that names the device and the first failing case, concurrent first callers
// running the check once, an out-of-memory check deciding nothing, the environment switch. Pure
// host logic: no GPU needed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm_wgmma_gate.h"
#include "tensor/error.h"

using tilenet::kernels::WgmmaAutoGate;

namespace {

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST(GemmWgmmaGate, PassingCheckRunsOncePerDeviceAndAllows) {
  WgmmaAutoGate gate;
  std::ostringstream warn;
  int runs = 0;
  const auto check = [&] {
    ++runs;
    return std::string();
  };
  EXPECT_FALSE(gate.verdict(0).has_value());
  EXPECT_TRUE(gate.allowed(0, check, warn));
  EXPECT_TRUE(gate.allowed(0, check, warn));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(gate.verdict(0), std::optional<bool>(true));
  EXPECT_FALSE(gate.verdict(1).has_value());  // devices are independent
  EXPECT_TRUE(gate.allowed(1, check, warn));
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(warn.str(), "");
}

TEST(GemmWgmmaGate, FailingCheckDisablesWithOneWarningLine) {
  WgmmaAutoGate gate;
  std::ostringstream warn;
  int runs = 0;
  const auto check = [&] {
    ++runs;
    return std::string("cfg 128x256x64_s4 ta=0 tb=0 f32 out: first mismatch at (0, 1): got 3, expected 4\n"
                       "cfg 128x128x64_s6 ta=1 tb=0 f16 out: first mismatch at (2, 0): got 0, expected 1\n");
  };
  EXPECT_FALSE(gate.allowed(3, check, warn));
  EXPECT_FALSE(gate.allowed(3, check, warn));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(gate.verdict(3), std::optional<bool>(false));
  const std::string w = warn.str();
  EXPECT_EQ(lines(w), 1) << w;
  EXPECT_NE(w.find("device 3"), std::string::npos) << w;
  EXPECT_NE(w.find("cfg 128x256x64_s4 ta=0 tb=0 f32 out: first mismatch at (0, 1)"), std::string::npos) << w;
  EXPECT_EQ(w.find("128x128x64_s6"), std::string::npos) << w;  // only the first case
  EXPECT_NE(w.find("mma_sync"), std::string::npos) << w;
  // Another device still gets its own check.
  EXPECT_TRUE(gate.allowed(4, [] { return std::string(); }, warn));
}

// The convolution tile's gate is a second instance: its line names the convolution and what its
// Auto does instead, and its verdict is its own.
TEST(GemmWgmmaGate, TheConvolutionGateNamesItselfAndKeepsItsOwnVerdict) {
  std::ostringstream warn;
  WgmmaAutoGate conv("conv2d", "Conv2dAlgo::Auto uses the mma_sync tiles instead of the wgmma tile");
  WgmmaAutoGate gemm;
  EXPECT_FALSE(conv.allowed(0, [] { return std::string("conv2d wgmma fwd: first mismatch at (0, 3)\n"); }, warn));
  EXPECT_TRUE(gemm.allowed(0, [] { return std::string(); }, warn));
  EXPECT_EQ(conv.verdict(0), std::optional<bool>(false));
  EXPECT_EQ(gemm.verdict(0), std::optional<bool>(true));
  const std::string w = warn.str();
  EXPECT_EQ(lines(w), 1) << w;
  EXPECT_EQ(w.rfind("tilenet: conv2d: wgmma self-check failed on CUDA device 0 (conv2d wgmma fwd", 0), 0u) << w;
  EXPECT_NE(w.find("Conv2dAlgo::Auto uses the mma_sync tiles"), std::string::npos) << w;
  EXPECT_NE(&tilenet::kernels::wgmma_conv_auto_gate(), &tilenet::kernels::wgmma_auto_gate());
}

TEST(GemmWgmmaGate, ThrowingCheckCountsAsFailure) {
  WgmmaAutoGate gate;
  std::ostringstream warn;
  EXPECT_FALSE(gate.allowed(0, []() -> std::string { throw std::runtime_error("illegal instruction"); }, warn));
  EXPECT_EQ(gate.verdict(0), std::optional<bool>(false));
  EXPECT_EQ(lines(warn.str()), 1);
  EXPECT_NE(warn.str().find("illegal instruction"), std::string::npos) << warn.str();
}

TEST(GemmWgmmaGate, ConcurrentFirstCallersRunTheCheckOnce) {
  WgmmaAutoGate gate;
  std::ostringstream warn;
  std::atomic<int> runs{0}, allowed{0};
  std::atomic<bool> go{false};
  const auto check = [&] {
    ++runs;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // others arrive while it runs
    return std::string("cfg x: first mismatch");
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      if (gate.allowed(0, check, warn)) ++allowed;
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(allowed.load(), 0);  // nobody chose wgmma before (or despite) the verdict
  EXPECT_EQ(lines(warn.str()), 1);
}

TEST(GemmWgmmaGate, OutOfMemoryDuringTheCheckDecidesNothing) {
  WgmmaAutoGate gate;
  std::ostringstream warn;
  int runs = 0;
  const auto check = [&]() -> std::string {
    if (++runs == 1) throw tilenet::OutOfMemoryError("wgmma_self_check: cudaMalloc of 2 MB failed", 2u << 20, 0);
    return std::string();
  };
  EXPECT_FALSE(gate.allowed(0, check, warn));  // the portable path this time
  EXPECT_FALSE(gate.verdict(0).has_value());
  EXPECT_EQ(warn.str(), "");
  // The next calls take the portable path without running the check again...
  for (int i = 0; i < WgmmaAutoGate::kOutOfMemoryBackoff; ++i) EXPECT_FALSE(gate.allowed(0, check, warn));
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(gate.verdict(0).has_value());
  EXPECT_TRUE(gate.allowed(0, check, warn));  // ...then it is tried again, and decided
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(gate.verdict(0), std::optional<bool>(true));
}

TEST(GemmWgmmaGate, EnvironmentSwitchDisablesWgmma) {
  using tilenet::kernels::wgmma_disabled_by_environment;
  const char* old = std::getenv("TILENET_DISABLE_WGMMA");
  const std::string saved = old ? old : "";
  unsetenv("TILENET_DISABLE_WGMMA");
  EXPECT_FALSE(wgmma_disabled_by_environment());
  setenv("TILENET_DISABLE_WGMMA", "0", 1);
  EXPECT_FALSE(wgmma_disabled_by_environment());
  setenv("TILENET_DISABLE_WGMMA", "", 1);
  EXPECT_FALSE(wgmma_disabled_by_environment());
  setenv("TILENET_DISABLE_WGMMA", "1", 1);
  EXPECT_TRUE(wgmma_disabled_by_environment());
  if (old)
    setenv("TILENET_DISABLE_WGMMA", saved.c_str(), 1);
  else
    unsetenv("TILENET_DISABLE_WGMMA");
}
