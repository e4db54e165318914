// CPU reference of the AlexNet input resize: identity, constants, hand-computed interpolation,
// channel replication, gather and normalisation, bad shapes.
#include <gtest/gtest.h>

#include <vector>

#include "samples/alexnet/resize.h"
#include "tensor/error.h"

using namespace tilenet::samples;

TEST(SamplesResize, SameSizeIsIdentityAndGatherPicksRows) {
  ResizeShape sh{3, 2, 3, 4, 2, 3, 4, 2};
  std::vector<float> x(3 * 3 * 4 * 2);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.25f - 3.0f;
  std::vector<std::int32_t> idx{2, 0};
  std::vector<float> y(sh.output_size(), -99.0f);
  resize_bilinear_ref(sh, x.data(), idx.data(), y.data(), ChannelNorm{});
  for (int i = 0; i < 24; ++i) {
    EXPECT_FLOAT_EQ(y[i], x[2 * 24 + i]);
    EXPECT_FLOAT_EQ(y[24 + i], x[i]);
  }
}

TEST(SamplesResize, UpsampleTwoByTwoMatchesHalfPixelBilinear) {
  // 2x2 -> 4x4: output centres map to -0.25, 0.25, 0.75, 1.25 (clamped to [0, 1]).
  ResizeShape sh{1, 1, 2, 2, 1, 4, 4, 1};
  std::vector<float> x{0, 4, 8, 12};
  std::vector<float> y(16);
  resize_bilinear_ref(sh, x.data(), nullptr, y.data(), ChannelNorm{});
  const float w[4] = {0, 0.25f, 0.75f, 1};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(y[i * 4 + j], 8 * w[i] + 4 * w[j]) << i << "," << j;
}

TEST(SamplesResize, ReplicatesOneChannelAndNormalisesEachOutputChannel) {
  ResizeShape sh{1, 1, 1, 1, 1, 3, 5, 3};
  std::vector<float> x{0.5f};
  ChannelNorm norm{{0.1f, 0.2f, 0.3f, 0}, {2, 4, 8, 1}};
  std::vector<float> y(sh.output_size());
  resize_bilinear_ref(sh, x.data(), nullptr, y.data(), norm);
  for (int p = 0; p < 15; ++p) {
    EXPECT_FLOAT_EQ(y[p * 3 + 0], (0.5f - 0.1f) * 2);
    EXPECT_FLOAT_EQ(y[p * 3 + 1], (0.5f - 0.2f) * 4);
    EXPECT_FLOAT_EQ(y[p * 3 + 2], (0.5f - 0.3f) * 8);
  }
}

TEST(SamplesResize, OutOfRangeIndexGivesZerosNotAFault) {
  ResizeShape sh{2, 2, 2, 2, 1, 3, 3, 1};
  std::vector<float> x(8, 1.0f);
  std::vector<std::int32_t> idx{5, -1};
  std::vector<float> y(sh.output_size(), 7.0f);
  resize_bilinear_ref(sh, x.data(), idx.data(), y.data(), ChannelNorm{});
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(SamplesResize, BadShapesThrow) {
  std::vector<float> buf(64);
  EXPECT_THROW(resize_bilinear_ref(ResizeShape{1, 1, 2, 2, 2, 4, 4, 3}, buf.data(), nullptr, buf.data(), {}),
               tilenet::ShapeError);
  EXPECT_THROW(resize_bilinear_ref(ResizeShape{1, 0, 2, 2, 1, 4, 4, 1}, buf.data(), nullptr, buf.data(), {}),
               tilenet::ShapeError);
  EXPECT_THROW(resize_bilinear_ref(ResizeShape{1, 1, 2, 2, 5, 4, 4, 5}, buf.data(), nullptr, buf.data(), {}),
               tilenet::ShapeError);
}
