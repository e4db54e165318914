// The emulator's own checks, each shown to fire: the emulation tests trust it to report a barrier or
// an mbarrier phase that never completes, a misaligned fragment load, a race with an asynchronous
// copy or a wgmma in flight, a missing proxy fence, a shared-memory opt-in left out and a write past
// a buffer's end, and to poison fresh shared memory, so each report is provoked here by a probe
// kernel (emu_traps.cu) that earns it, next to the same kernel done right computing the right result.
// Label emu; there is no GPU version.
#include "emu_traps.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "tensor/half.h"

namespace {

using emu_traps::WgmmaFault;

// What the emulated launch threw, or "" when it ran through.
std::string failure_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

struct WgmmaCase {
  std::vector<std::uint16_t> a, b;  // fp16 bits: A 64x16, B 128x16 (row n holds B's column n)
  std::vector<float> expected;      // 64x128: exact (small integers)

  WgmmaCase() : a(64 * 16), b(128 * 16), expected(64 * 128) {
    std::mt19937 rng(20261123);
    std::uniform_int_distribution<int> v(-4, 4);
    std::vector<int> ai(a.size()), bi(b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      ai[i] = v(rng) | 1;  // odd: never zero, so a sign flip changes the bits
      a[i] = tilenet::float_to_half(static_cast<float>(ai[i])).bits;
    }
    for (std::size_t i = 0; i < b.size(); ++i) {
      bi[i] = v(rng);
      b[i] = tilenet::float_to_half(static_cast<float>(bi[i])).bits;
    }
    for (int m = 0; m < 64; ++m)
      for (int n = 0; n < 128; ++n) {
        int s = 0;
        for (int k = 0; k < 16; ++k) s += ai[m * 16 + k] * bi[n * 16 + k];
        expected[m * 128 + n] = static_cast<float>(s);
      }
  }
  std::string trap(WgmmaFault f) const {
    return failure_of([&] { emu_traps::wgmma_probe(a, b, f); });
  }
  void expect_right(WgmmaFault f) const {
    const std::vector<float> d = emu_traps::wgmma_probe(a, b, f);
    int wrong = 0;
    for (std::size_t i = 0; i < d.size(); ++i) wrong += d[i] != expected[i];
    EXPECT_EQ(wrong, 0) << "of " << d.size() << " outputs; first: " << d[0] << " vs " << expected[0];
  }
};

TEST(EmuTraps, WgmmaDoneRightComputesTheProduct) {
  const WgmmaCase c;
  c.expect_right(WgmmaFault::none);
}

TEST(EmuTraps, WgmmaWithoutProxyFenceAfterCpAsync) {
  EXPECT_NE(WgmmaCase().trap(WgmmaFault::no_proxy_fence).find("without a fence.proxy.async"), std::string::npos);
}

TEST(EmuTraps, WgmmaWithoutWgmmaFence) {
  EXPECT_NE(WgmmaCase().trap(WgmmaFault::no_wgmma_fence).find("before any wgmma.fence"), std::string::npos);
}

TEST(EmuTraps, WgmmaNotIssuedByTheWholeWarpgroup) {
  const std::string what = WgmmaCase().trap(WgmmaFault::uneven_issue);
  EXPECT_NE(what.find("warpgroup 0"), std::string::npos) << what;
  EXPECT_NE(what.find("every thread must issue the same ones"), std::string::npos) << what;
}

TEST(EmuTraps, CopyIntoAnOperandInFlight) {
  const std::string what = WgmmaCase().trap(WgmmaFault::copy_in_flight);
  EXPECT_NE(what.find("cp.async writes shared bytes"), std::string::npos) << what;
  EXPECT_NE(what.find("that a wgmma in flight reads"), std::string::npos) << what;
}

TEST(EmuTraps, PlainStoreIntoAnOperandInFlight) {
  const std::string what = WgmmaCase().trap(WgmmaFault::store_in_flight);
  EXPECT_NE(what.find("operand A"), std::string::npos) << what;
  EXPECT_NE(what.find("thread 37 changed shared bytes"), std::string::npos) << what;
}

TEST(EmuTraps, PlainStoreIntoAnOperandInFlightSeenWhenTheWriterYields) {
  // The barrier comes before any thread retired the wgmma: it orders nothing after it.
  const std::string what = WgmmaCase().trap(WgmmaFault::store_then_barrier);
  EXPECT_NE(what.find("thread 37 changed shared bytes"), std::string::npos) << what;
  EXPECT_NE(what.find("which it had not retired"), std::string::npos) << what;
}

TEST(EmuTraps, StoresTheWgmmaCannotSeeAreNotRaces) {
  const WgmmaCase c;
  // Same tile, a k the k16 slice does not read: no trap, and the product is unchanged.
  c.expect_right(WgmmaFault::store_unread_in_flight);
  // After its own wait_group the issuing thread may overwrite the operand: the wgmma is complete.
  // The other threads, retiring later here, still compute from what the wgmma read.
  c.expect_right(WgmmaFault::store_after_wait);
  // The usual protocol: every thread retires, a barrier, then any thread overwrites the stage.
  c.expect_right(WgmmaFault::store_after_barrier);
}

TEST(EmuTraps, CpAsyncLandsAtItsWaitIntoPoisonedSharedMemory) {
  const float src[4] = {1.5f, -2.0f, 3.25f, 7.0f};
  float before[4], after[4];
  emu_traps::cp_async_probe(src, before, after);
  for (int i = 0; i < 4; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &before[i], 4);
    EXPECT_EQ(bits, 0xffffffffu) << "element " << i << ": read before the wait must see the 0xFF poison";
    EXPECT_EQ(after[i], src[i]) << "element " << i;
  }
}

TEST(EmuTraps, BarrierNotEveryThreadReaches) {
  const std::string what = failure_of([] { emu_traps::deadlock_probe(); });
  EXPECT_NE(what.find("deadlock: of 64 live threads, 48 wait at __syncthreads"), std::string::npos) << what;
}

TEST(EmuTraps, MbarrierPhaseThatNeverCompletes) {
  EXPECT_EQ(failure_of([] { emu_traps::mbarrier_probe(2); }), "");
  const std::string what = failure_of([] { emu_traps::mbarrier_probe(1); });
  EXPECT_NE(what.find("deadlock: of 32 live threads, 0 wait at __syncthreads, 32 on mbarrier phases that never complete"),
            std::string::npos)
      << what;
}

TEST(EmuTraps, MisalignedLdmatrix) {
  const std::string what = failure_of([] { emu_traps::ldmatrix_probe(); });
  EXPECT_NE(what.find("ldmatrix row address not 16-byte aligned"), std::string::npos) << what;
}

TEST(EmuTraps, DynamicSharedMemoryOver48KBNeedsTheOptIn) {
  float ran = 0.0f;
  EXPECT_EQ(emu_traps::big_smem_probe(false, &ran), cudaErrorInvalidValue);
  EXPECT_EQ(ran, 0.0f) << "the launch without the opt-in must not run";
  EXPECT_EQ(emu_traps::big_smem_probe(true, &ran), cudaSuccess);
  EXPECT_EQ(ran, 1.0f);
}

TEST(EmuTrapsDeathTest, WritePastTheEndOfABufferIsReportedAtFree) {
  EXPECT_DEATH(emu_traps::overrun_probe(), "a write 1 bytes past the end of a 40-byte cudaMalloc buffer");
}

}  // namespace
