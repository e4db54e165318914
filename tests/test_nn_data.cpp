// The pieces fit/evaluate are built from, on the CPU: Dataset (seeded epoch permutations, batches
// that keep x and y paired, normalisation, the validation tail, f16 delivery, errors) and the
// Keras progress bar (in place on a terminal, plain final lines otherwise, verbose 2 and 0).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nn/dataset.h"
#include "nn/progress.h"
#include "tensor/half.h"

namespace tilenet::nn {
namespace {

// n samples of 3 features: sample i holds (i + 0.25, -i, 1000 + i); label i * 7 % 11.
Dataset numbered(std::int64_t n) {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  for (std::int64_t i = 0; i < n; ++i) {
    x.insert(x.end(), {static_cast<float>(i) + 0.25f, -static_cast<float>(i), 1000.0f + static_cast<float>(i)});
    y.push_back(static_cast<std::int32_t>(i * 7 % 11));
  }
  return Dataset(Tensor::from_vector(x, {n, 3}), Tensor::from_ints(y, {n}));
}

TEST(NnDataset, PermutationIsSeededAndChangesEveryEpoch) {
  const auto p0 = Dataset::permutation(1000, 42, 0);
  std::vector<std::int32_t> sorted = p0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int32_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);  // a permutation of 0..n-1
  EXPECT_EQ(p0, Dataset::permutation(1000, 42, 0));
  EXPECT_NE(p0, Dataset::permutation(1000, 42, 1));
  EXPECT_NE(p0, Dataset::permutation(1000, 43, 0));
  EXPECT_NE(p0, iota);
  // Every position is reachable: over 200 epochs of a 5-element permutation each element lands in
  // each slot (a biased shuffle, e.g. an off-by-one in Fisher-Yates, leaves some slot empty).
  std::set<std::pair<int, int>> seen;
  for (int e = 0; e < 200; ++e) {
    const auto p = Dataset::permutation(5, 7, e);
    for (int i = 0; i < 5; ++i) seen.insert({i, p[i]});
  }
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_TRUE(Dataset::permutation(0, 1, 0).empty());
  EXPECT_EQ(Dataset::permutation(1, 1, 0), std::vector<std::int32_t>{0});
  EXPECT_THROW(Dataset::permutation(-1, 1, 0), ValueError);
}

TEST(NnDataset, ShuffledBatchesKeepSamplesAndLabelsTogether) {
  Dataset d = numbered(23);
  d.begin_epoch(/*shuffle=*/true, /*seed=*/9, /*epoch=*/3);
  ASSERT_EQ(d.num_batches(5), 5);  // 5 + 5 + 5 + 5 + 3
  const auto perm = Dataset::permutation(23, 9, 3);
  std::int64_t row = 0;
  for (std::int64_t b = 0; b < 5; ++b) {
    auto [x, y] = d.batch(b, 5);
    const std::int64_t rows = b < 4 ? 5 : 3;
    ASSERT_EQ(x.shape(), Shape({rows, 3}));
    ASSERT_EQ(y.shape(), Shape({rows}));
    const auto xv = x.to_vector();
    const auto yv = y.to_ints();
    for (std::int64_t r = 0; r < rows; ++r, ++row) {
      const std::int32_t src = perm[static_cast<std::size_t>(row)];
      EXPECT_EQ(xv[r * 3 + 0], static_cast<float>(src) + 0.25f);
      EXPECT_EQ(xv[r * 3 + 1], -static_cast<float>(src));
      EXPECT_EQ(xv[r * 3 + 2], 1000.0f + static_cast<float>(src));
      EXPECT_EQ(yv[r], src * 7 % 11);
    }
  }
  EXPECT_THROW(d.batch(5, 5), ValueError);
  EXPECT_THROW(d.batch(-1, 5), ValueError);
  EXPECT_THROW(d.num_batches(0), ValueError);
  // The original arrays are untouched (the epoch works on its own copies).
  EXPECT_EQ(d.x().to_vector()[3], 1.25f);
}

TEST(NnDataset, UnshuffledEpochIsStorageOrderAndF16DeliveryCasts) {
  Dataset d = numbered(7);
  EXPECT_THROW(d.batch(0, 4), ValueError);  // before begin_epoch
  d.begin_epoch(false, 1, 0);
  auto [x, y] = d.batch(1, 4);
  EXPECT_EQ(x.shape(), Shape({3, 3}));
  EXPECT_EQ(x.to_vector()[0], 4.25f);
  EXPECT_EQ(y.to_ints()[0], 28 % 11);
  d.begin_epoch(false, 1, 0, DType::f16);
  auto [xh, yh] = d.batch(0, 7);
  EXPECT_EQ(xh.dtype(), DType::f16);
  const auto xv = xh.to_vector();
  for (int i = 0; i < 7; ++i) EXPECT_EQ(xv[i * 3 + 2], half_to_float(float_to_half(1000.0f + i)));
  EXPECT_EQ(yh.dtype(), DType::i32);
  d.begin_epoch(true, 1, 0, DType::f16);  // shuffled and cast in the same gather
  EXPECT_EQ(d.batch(0, 7).first.dtype(), DType::f16);
  EXPECT_THROW(d.begin_epoch(false, 1, 0, DType::i32), DtypeError);
}

TEST(NnDataset, NormalizeSplitTailAndSlice) {
  Dataset d = numbered(10);
  d.normalize(0.5f, -1.0f);
  EXPECT_EQ(d.x().to_vector()[3 * 4 + 2], 1004.0f * 0.5f - 1.0f);
  Dataset val = d.split_tail(3);  // Keras's validation_split: the last samples, before shuffling
  EXPECT_EQ(d.size(), 7);
  EXPECT_EQ(val.size(), 3);
  EXPECT_EQ(val.y().to_ints(), (std::vector<std::int32_t>{7 * 7 % 11, 8 * 7 % 11, 9 * 7 % 11}));
  d.begin_epoch(true, 5, 0);
  for (std::int64_t b = 0; b < d.num_batches(2); ++b)
    for (std::int32_t label : d.batch(b, 2).second.to_ints()) EXPECT_NE(label, 9 * 7 % 11);
  Dataset mid = d.slice(2, 4);
  EXPECT_EQ(mid.size(), 2);
  EXPECT_EQ(mid.y().to_ints()[0], 14 % 11);
  EXPECT_THROW(d.slice(3, 2), ValueError);
  EXPECT_THROW(d.slice(0, 8), ValueError);
  EXPECT_THROW(d.split_tail(7), ValueError);  // would leave nothing to train on
  Dataset no_targets(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  no_targets.begin_epoch(true, 1, 0);
  EXPECT_FALSE(no_targets.batch(0, 2).second.defined());
}

TEST(NnDataset, BadArraysGiveClearErrors) {
  try {
    Dataset(Tensor::zeros({4, 2}), Tensor::from_ints({0, 1, 2}, {3}));
    FAIL() << "mismatched sample counts were accepted";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Dataset"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4 samples"), std::string::npos) << msg;
  }
  EXPECT_THROW(Dataset(Tensor::from_ints({1, 2}, {2})), DtypeError);
  Dataset half_targets(Tensor::zeros({2, 2}), Tensor::zeros({2}, DType::f16));
  EXPECT_THROW(half_targets.begin_epoch(false, 1, 0), DtypeError);
}

TEST(NnProgress, TerminalRewritesTheLineInPlace) {
  std::ostringstream os;
  Progbar bar(469, 1, os, /*interactive=*/true);
  bar.update(100, {{"loss", 0.5}, {"accuracy", 0.75}});
  bar.update(200, {{"loss", 0.25}});  // shorter than the line before: padded over
  bar.finish({{"loss", 0.2301}, {"accuracy", 0.9312}});
  const std::string out = os.str();
  ASSERT_EQ(std::count(out.begin(), out.end(), '\r'), 3) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;  // one line on the screen per epoch
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("100/469 [=====>........................] ETA: "), std::string::npos) << out;
  EXPECT_NE(out.find(" - loss: 0.5000 - accuracy: 0.7500"), std::string::npos) << out;
  const std::size_t second = out.find('\r', 1), third = out.find('\r', second + 1);
  const std::size_t first_len = second - 1, second_len = third - second - 1;
  EXPECT_EQ(first_len, second_len) << "the shorter update must blank the rest of the longer one";
  const std::string last = out.substr(third + 1);
  EXPECT_EQ(last.rfind("469/469 [==============================] ", 0), 0u) << last;
  EXPECT_NE(last.find("/step - loss: 0.2301 - accuracy: 0.9312\n"), std::string::npos) << last;
}

TEST(NnProgress, PlainOutputPrintsOnlyFinalLinesAndVerbose2And0) {
  std::ostringstream plain;
  Progbar bar(10, 1, plain, /*interactive=*/false);
  EXPECT_FALSE(bar.refresh_due(0.0));  // no intermediate refreshes (no device syncs) off a terminal
  bar.update(5, {{"loss", 1.0}});
  EXPECT_EQ(plain.str(), "");
  bar.finish({{"loss", 0.125}});
  EXPECT_EQ(plain.str().find('\r'), std::string::npos);
  EXPECT_EQ(plain.str().rfind("10/10 [==============================] ", 0), 0u) << plain.str();

  std::ostringstream v2;
  Progbar summary(469, 2, v2, /*interactive=*/true);
  EXPECT_FALSE(summary.refresh_due(0.0));
  summary.finish({{"loss", 0.2301}, {"val_loss", 0.0001234}});
  EXPECT_EQ(v2.str().rfind("469/469 - ", 0), 0u) << v2.str();
  EXPECT_NE(v2.str().find("/step - loss: 0.2301 - val_loss: 1.2340e-04\n"), std::string::npos) << v2.str();

  std::ostringstream quiet;
  Progbar silent(5, 0, quiet, true);
  silent.update(1, {{"loss", 1.0}});
  silent.finish({{"loss", 1.0}});
  EXPECT_EQ(quiet.str(), "");

  Progbar terminal(5, 1, quiet, true);
  EXPECT_TRUE(terminal.refresh_due(0.0));
}

TEST(NnProgress, ValuesAndStepTimesAsKerasPrintsThem) {
  EXPECT_EQ(Progbar::format_value(0.23014), "0.2301");
  EXPECT_EQ(Progbar::format_value(0.0), "0.0000");
  EXPECT_EQ(Progbar::format_value(-0.0005), "-5.0000e-04");
  EXPECT_EQ(Progbar::format_value(12.5), "12.5000");
  EXPECT_EQ(Progbar::format_per_step(2.4), "2s/step");
  EXPECT_EQ(Progbar::format_per_step(0.0021), "2ms/step");
  EXPECT_EQ(Progbar::format_per_step(0.00035), "350us/step");
}

}  // namespace
}  // namespace tilenet::nn
