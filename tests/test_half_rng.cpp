// fp16 conversion (exhaustive) and the Philox RNG (reproducibility, statistics) on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/philox.h"
#include "kernels/rng.h"
#include "tensor/half.h"
#include "tensor/memory.h"
#include "tensor/tensor.h"
#include "test_util.h"

using namespace tilenet;

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    half h{static_cast<std::uint16_t>(b)};
    const float f = half_to_float(h);
    const half back = float_to_half(f);
    if (std::isnan(f)) {
      EXPECT_TRUE((back.bits & 0x7c00u) == 0x7c00u && (back.bits & 0x3ffu) != 0) << b;
    } else {
      EXPECT_EQ(back.bits, h.bits) << "bits " << b << " value " << f;
    }
  }
}

TEST(Half, KnownValuesAndRounding) {
  EXPECT_EQ(float_to_half(1.0f).bits, 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f).bits, 0xc000);
  EXPECT_EQ(float_to_half(65504.0f).bits, 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f).bits, 0x7c00);  // rounds up to inf
  EXPECT_EQ(float_to_half(65519.0f).bits, 0x7bff);
  EXPECT_EQ(float_to_half(5.960464477539063e-08f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half(2.98023223876953125e-08f).bits, 0x0000);  // exactly half of it: ties to even
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048).bits, 0x3c00);  // tie between 1 and 1+2^-10 -> even
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048).bits, 0x3c02);  // tie -> even (up)
  EXPECT_FLOAT_EQ(half_to_float(half{0x3555}), 0.333251953125f);
}

TEST(Half, MidpointsBetweenNeighboursRoundToEven) {
  // For every finite positive half h, the float midpoint to its successor rounds to the even one.
  for (std::uint16_t b = 0; b < 0x7bff; ++b) {
    const float lo = half_to_float(half{b}), hi = half_to_float(half{static_cast<std::uint16_t>(b + 1)});
    const float mid = 0.5f * (lo + hi);
    const std::uint16_t expect = (b & 1) ? static_cast<std::uint16_t>(b + 1) : b;
    ASSERT_EQ(float_to_half(mid).bits, expect) << "between bits " << b << " and " << b + 1;
  }
}

TEST(Philox, KnownAnswerIsStable) {
  // Regression value for counter 0, key 0: pins the stream so checkpoints and dropout masks stay
  // reproducible across versions.
  const auto r = kernels::philox4x32(0, 0);
  const auto r2 = kernels::philox4x32(0, 0);
  EXPECT_EQ(std::memcmp(&r, &r2, sizeof r), 0);
  const auto other = kernels::philox4x32(1, 0);
  EXPECT_NE(r.v[0], other.v[0]);
  // Random123's published answer for Philox4x32-10 on zero counter and key.
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
}

TEST(Rng, SameSeedSameValuesDifferentSeedDifferent) {
  Tensor a = Tensor::uniform({1000}, -1, 1, 42);
  Tensor b = Tensor::uniform({1000}, -1, 1, 42);
  Tensor c = Tensor::uniform({1000}, -1, 1, 43);
  EXPECT_TRUE(test::all_equal(a.to_vector(), b.to_vector()));
  EXPECT_FALSE(test::all_equal(a.to_vector(), c.to_vector()));
}

TEST(Rng, OffsetsComposeStreams) {
  // Filling in two pieces with offsets equals one fill.
  std::vector<float> whole(103), parts(103);
  kernels::rng_uniform_ref(whole.data(), 103, 0, 1, 9, 5);
  kernels::rng_uniform_ref(parts.data(), 50, 0, 1, 9, 5);
  kernels::rng_uniform_ref(parts.data() + 50, 53, 0, 1, 9, 55);
  EXPECT_TRUE(test::all_equal(whole, parts));
}

TEST(Rng, UniformStatistics) {
  const int n = 200000;
  auto v = Tensor::uniform({n}, 2, 4, 1234).to_vector();
  double mean = 0, var = 0;
  float lo = 10, hi = -10;
  for (float x : v) {
    mean += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  mean /= n;
  for (float x : v) var += (x - mean) * (x - mean);
  var /= n;
  EXPECT_NEAR(mean, 3.0, 0.01);
  EXPECT_NEAR(var, 4.0 / 12.0, 0.005);
  EXPECT_GT(lo, 2.0f);
  EXPECT_LT(hi, 4.0f);
}

TEST(Rng, NormalStatistics) {
  const int n = 200000;
  auto v = Tensor::normal({n}, 1.5f, 0.5f, 99).to_vector();
  double mean = 0, var = 0, m4 = 0;
  for (float x : v) mean += x;
  mean /= n;
  for (float x : v) {
    const double d = x - mean;
    var += d * d;
    m4 += d * d * d * d;
  }
  var /= n;
  m4 /= n;
  EXPECT_NEAR(mean, 1.5, 0.01);
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.01);
  EXPECT_NEAR(m4 / (var * var), 3.0, 0.1);  // kurtosis of a normal
}

TEST(Memory, HostOutOfMemoryIsTypedAndRecoverable) {
  try {
    Tensor::empty({std::int64_t(1) << 46}, DType::f32, Device::cpu());
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("TiB"), std::string::npos) << e.what();
    EXPECT_GT(e.requested_bytes(), 0u);
  }
  Tensor ok = Tensor::zeros({16});
  EXPECT_EQ(ok.numel(), 16);
}

TEST(Errors, FormatBytes) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(std::size_t(3) << 30), "3.00 GiB");
}
