// Dataset readers: IDX (raw and gzip) and CIFAR-10 binary files written by the tests, every kind of
// broken file (truncated, corrupt, wrong magic, oversized dimensions, trailing data, bad labels)
// giving an IoError that names the file, and the real Fashion-MNIST files when installed.
#include <gtest/gtest.h>

#include <filesystem>

#include "io_test_util.h"
#include "nn/data/cifar10.h"
#include "nn/data/idx.h"
#include "test_util.h"

using namespace tilenet;
using namespace tilenet::nn::data;
using test::Bytes;

namespace {

Bytes idx(std::uint8_t type, const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  test::append(b, data);
  return b;
}

Bytes counting(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 % 256);
  return b;
}

const Bytes kImages = idx(0x08, {3, 2, 2}, counting(12));
const Bytes kLabels = idx(0x08, {3}, {7, 0, 9});

// Reading `file` (as written) fails with an IoError naming it and containing `needle`.
void expect_idx_error(const test::ScratchDir& dir, const Bytes& file, const std::string& needle) {
  const std::string path = dir.file("bad-idx");
  test::write_bytes(path, file);
  try {
    read_idx(path);
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
  }
}

}  // namespace

TEST(Idx, ReadsRawAndGzipImagesAndLabels) {
  test::ScratchDir dir;
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "raw");
    const std::string ip = dir.file(gz ? "i.gz" : "i"), lp = dir.file(gz ? "l.gz" : "l");
    test::write_bytes(ip, gz ? test::gzip(kImages) : kImages);
    test::write_bytes(lp, gz ? test::gzip(kLabels) : kLabels);
    const LabeledImages d = load_idx(ip, lp);
    EXPECT_EQ(d.x.shape(), (Shape{3, 2, 2, 1}));
    EXPECT_EQ(d.y.dtype(), DType::i32);
    EXPECT_EQ(d.y.to_ints(), (std::vector<std::int32_t>{7, 0, 9}));
    const std::vector<float> x = d.x.to_vector();
    for (std::size_t i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(x[i], static_cast<float>(i * 7 % 256) / 255.0f);
    EXPECT_FLOAT_EQ(load_idx_images(ip, /*scale=*/false).to_vector()[11], 77.0f);
  }
}

TEST(Idx, ConcatenatedGzipMembers) {
  test::ScratchDir dir;
  Bytes two = test::gzip(Bytes(kImages.begin(), kImages.begin() + 9));
  test::append(two, test::gzip(Bytes(kImages.begin() + 9, kImages.end())));
  const std::string p = dir.file("two.gz");
  test::write_bytes(p, two);
  EXPECT_EQ(read_idx(p).data, counting(12));
}

TEST(Idx, TruncatedAndTrailingData) {
  test::ScratchDir dir;
  expect_idx_error(dir, Bytes(kImages.begin(), kImages.end() - 1), "only 11 follow the header");
  expect_idx_error(dir, Bytes(kImages.begin(), kImages.begin() + 9), "truncated IDX header");
  expect_idx_error(dir, Bytes(kImages.begin(), kImages.begin() + 2), "an IDX header needs at least 4");
  Bytes extra = kImages;
  extra.push_back(1);
  expect_idx_error(dir, extra, "1 extra bytes");
  // Gzip: cut compressed stream, and the full stream of a short file.
  const Bytes gz = test::gzip(kImages);
  expect_idx_error(dir, Bytes(gz.begin(), gz.end() - 12), "truncated");
  expect_idx_error(dir, test::gzip(Bytes(kImages.begin(), kImages.end() - 1)), "data ends after 11");
  expect_idx_error(dir, test::gzip(extra), "extra decompressed bytes");
  Bytes junk = gz;
  test::append(junk, {1, 2, 3});
  expect_idx_error(dir, junk, "non-gzip data after");
}

TEST(Idx, CorruptGzip) {
  test::ScratchDir dir;
  Bytes gz = test::gzip(counting(4000));  // a header-less blob: corrupt the deflate data itself
  Bytes bad = gz;
  for (std::size_t i = 12; i < 40 && i < bad.size(); ++i) bad[i] ^= 0x5a;
  const std::string p = dir.file("bad.gz");
  test::write_bytes(p, bad);
  EXPECT_THROW(read_idx(p), IoError);
  // A valid stream with a broken CRC.
  Bytes crc = test::gzip(kImages);
  crc[crc.size() - 6] ^= 0xff;
  expect_idx_error(dir, crc, "corrupt gzip");
}

TEST(Idx, WrongMagicTypeAndRank) {
  test::ScratchDir dir;
  Bytes m = kImages;
  m[1] = 0x01;
  expect_idx_error(dir, m, "not an IDX file");
  expect_idx_error(dir, idx(0x0d, {3}, Bytes(12)), "0x0d (float32) is not supported");
  expect_idx_error(dir, idx(0x08, {}, {}), "0 dimensions");
  expect_idx_error(dir, idx(0x08, {1, 1, 1, 1, 1}, {1}), "5 dimensions");
  // Reading labels from an image file and the other way round.
  const std::string p = dir.file("images");
  test::write_bytes(p, kImages);
  EXPECT_THROW(load_idx_labels(p), IoError);
  test::write_bytes(p, kLabels);
  EXPECT_THROW(load_idx_images(p), IoError);
  EXPECT_THROW(load_idx_labels(p, /*num_classes=*/8), IoError);  // label 9
  EXPECT_THROW(read_idx(dir.file("missing")), IoError);
}

TEST(Idx, OversizedDimensionsFailBeforeAllocating) {
  test::ScratchDir dir;
  expect_idx_error(dir, idx(0x08, {60000, 28, 28}, Bytes(10)), "promises 47040000 bytes");
  expect_idx_error(dir, idx(0x08, {0xffffffffu, 0xffffffffu, 0xffffffffu}, Bytes(10)), "overflow");
  expect_idx_error(dir, test::gzip(idx(0x08, {0xffffffffu, 0xffffu}, Bytes(10))), "cannot hold that much");
}

TEST(Idx, CountMismatchBetweenImagesAndLabels) {
  test::ScratchDir dir;
  test::write_bytes(dir.file("i"), kImages);
  test::write_bytes(dir.file("l"), idx(0x08, {2}, {1, 2}));
  EXPECT_THROW(load_idx(dir.file("i"), dir.file("l")), IoError);
}

TEST(Idx, ReadsRealFashionMnistFiles) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " not installed (apt-get install dataset-fashion-mnist)";
  const LabeledImages train = load_mnist(dir, true), test_set = load_mnist(dir, false);
  EXPECT_EQ(train.x.shape(), (Shape{60000, 28, 28, 1}));
  EXPECT_EQ(test_set.x.shape(), (Shape{10000, 28, 28, 1}));
  for (const LabeledImages* d : {&train, &test_set}) {
    std::vector<int> counts(10, 0);
    for (std::int32_t y : d->y.to_ints()) {
      ASSERT_GE(y, 0);
      ASSERT_LE(y, 9);
      ++counts[y];
    }
    for (int c : counts) EXPECT_EQ(c, d->y.numel() / 10);  // Fashion-MNIST is balanced
    const std::vector<float> x = d->x.to_vector();
    EXPECT_GE(*std::min_element(x.begin(), x.end()), 0.0f);
    EXPECT_LE(*std::max_element(x.begin(), x.end()), 1.0f);
  }
}

namespace {

// CIFAR record r: label r % 10, pixel (c, i) = (r + 3c + i) % 256.
Bytes cifar(std::size_t records, std::size_t first = 0) {
  Bytes b;
  for (std::size_t r = first; r < first + records; ++r) {
    b.push_back(static_cast<std::uint8_t>(r % 10));
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 1024; ++i) b.push_back(static_cast<std::uint8_t>((r + 3 * c + i) % 256));
  }
  return b;
}

}  // namespace

TEST(Cifar, DecodesRecordsToNhwc) {
  const Bytes b = cifar(3);
  const LabeledImages d = parse_cifar10(b.data(), b.size(), "mem", /*scale=*/false);
  EXPECT_EQ(d.x.shape(), (Shape{3, 32, 32, 3}));
  EXPECT_EQ(d.y.to_ints(), (std::vector<std::int32_t>{0, 1, 2}));
  const std::vector<float> x = d.x.to_vector();
  // image 2, row 1, col 5 (i = 37), channel 2: (2 + 6 + 37) % 256
  EXPECT_EQ(x[((2 * 32 + 1) * 32 + 5) * 3 + 2], 45.0f);
  const LabeledImages s = parse_cifar10(b.data(), b.size(), "mem");
  EXPECT_FLOAT_EQ(s.x.to_vector()[((2 * 32 + 1) * 32 + 5) * 3 + 2], 45.0f / 255.0f);
}

TEST(Cifar, LoadsTrainAndTestSetsFromADirectory) {
  test::ScratchDir dir;
  std::filesystem::create_directories(dir.file("cifar-10-batches-bin"));
  for (int i = 1; i <= 5; ++i)
    test::write_bytes(dir.file("cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin"), cifar(2, 2 * (i - 1)));
  test::write_bytes(dir.file("cifar-10-batches-bin/test_batch.bin"), cifar(3));
  const LabeledImages tr = load_cifar10(dir.str(), true), te = load_cifar10(dir.str(), false);
  EXPECT_EQ(tr.x.dim(0), 10);
  EXPECT_EQ(tr.y.to_ints(), (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(te.x.dim(0), 3);
  const Bytes all = cifar(10);
  const LabeledImages ref = parse_cifar10(all.data(), all.size(), "ref");
  EXPECT_TRUE(test::all_equal(tr.x.to_vector(), ref.x.to_vector()));
}

TEST(Cifar, TruncatedCorruptAndMissingFiles) {
  test::ScratchDir dir;
  auto expect_error = [&](const Bytes& b, const std::string& needle) {
    const std::string p = dir.file("batch.bin");
    test::write_bytes(p, b);
    try {
      load_cifar10_batch(p);
      ADD_FAILURE() << "no error; expected '" << needle << "'";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const Bytes good = cifar(2);
  expect_error(Bytes(good.begin(), good.end() - 1), "1 whole records and 3072 extra bytes");
  expect_error({}, "empty file");
  Bytes bad_label = good;
  bad_label[3073] = 10;
  expect_error(bad_label, "record 1 has label 10");
  EXPECT_THROW(load_cifar10(dir.file("nowhere"), true), IoError);
}
