#include "nn/data/cifar10.h"

#include <cstring>
#include <vector>

#include "nn/io/file_util.h"

namespace tilenet::nn::data {
namespace {

constexpr int kSide = 32, kPlane = kSide * kSide;

// Validates and decodes `records` records into x/y starting at image `first`.
void decode(const std::uint8_t* data, std::size_t records, const std::string& name, bool scale, float* x,
            std::int32_t* y) {
  const float k = scale ? 1.0f / 255.0f : 1.0f;
  for (std::size_t r = 0; r < records; ++r) {
    const std::uint8_t* rec = data + r * kCifarRecordBytes;
    if (rec[0] > 9)
      throw IoError(name + ": record " + std::to_string(r) + " has label " + std::to_string(rec[0]) +
                    "; CIFAR-10 labels are 0..9 (a CIFAR-100 file has 2 label bytes per record)");
    y[r] = rec[0];
    const std::uint8_t* px = rec + 1;
    float* out = x + r * 3 * kPlane;
    for (int i = 0; i < kPlane; ++i)  // CHW -> HWC
      for (int c = 0; c < 3; ++c) out[i * 3 + c] = static_cast<float>(px[c * kPlane + i]) * k;
  }
}

std::size_t record_count(std::uint64_t size, const std::string& name) {
  if (size == 0) throw IoError(name + ": empty file; a CIFAR-10 binary file holds 3073-byte records");
  if (size % kCifarRecordBytes != 0)
    throw IoError(name + ": size " + std::to_string(size) + " is not a multiple of the 3073-byte CIFAR-10 record "
                  "(1 label + 3x32x32 pixels): " + std::to_string(size / kCifarRecordBytes) + " whole records and " +
                  std::to_string(size % kCifarRecordBytes) + " extra bytes (truncated or not CIFAR-10 binary)");
  return static_cast<std::size_t>(size / kCifarRecordBytes);
}

}  // namespace

LabeledImages parse_cifar10(const std::uint8_t* data, std::size_t size, const std::string& name, bool scale) {
  const std::size_t n = record_count(size, name);
  LabeledImages d{Tensor::empty({static_cast<std::int64_t>(n), kSide, kSide, 3}, DType::f32, Device::cpu()),
                  Tensor::empty({static_cast<std::int64_t>(n)}, DType::i32, Device::cpu())};
  decode(data, n, name, scale, d.x.data<float>(), d.y.data<std::int32_t>());
  return d;
}

LabeledImages load_cifar10_batch(const std::string& path, bool scale) {
  const std::vector<std::uint8_t> bytes = io::read_file(path);
  return parse_cifar10(bytes.data(), bytes.size(), path, scale);
}

LabeledImages load_cifar10(const std::string& dir, bool train, bool scale) {
  std::string base = dir;
  if (!io::file_exists(base + (train ? "/data_batch_1.bin" : "/test_batch.bin")) &&
      io::file_exists(base + "/cifar-10-batches-bin" + (train ? "/data_batch_1.bin" : "/test_batch.bin")))
    base += "/cifar-10-batches-bin";
  std::vector<std::string> files;
  if (train)
    for (int i = 1; i <= 5; ++i) files.push_back(base + "/data_batch_" + std::to_string(i) + ".bin");
  else
    files.push_back(base + "/test_batch.bin");
  // Sizes first, so the output is allocated once.
  std::size_t total = 0;
  std::vector<std::size_t> counts;
  for (const auto& f : files) {
    if (!io::file_exists(f)) throw IoError("load_cifar10: missing " + f);
    io::InputFile in(f);
    counts.push_back(record_count(in.size(), f));
    total += counts.back();
  }
  LabeledImages d{Tensor::empty({static_cast<std::int64_t>(total), kSide, kSide, 3}, DType::f32, Device::cpu()),
                  Tensor::empty({static_cast<std::int64_t>(total)}, DType::i32, Device::cpu())};
  std::size_t at = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::vector<std::uint8_t> bytes = io::read_file(files[i], counts[i] * kCifarRecordBytes);
    if (bytes.size() != counts[i] * kCifarRecordBytes)
      throw IoError(files[i] + ": size changed while reading");
    decode(bytes.data(), counts[i], files[i], scale, d.x.data<float>() + at * 3 * kPlane, d.y.data<std::int32_t>() + at);
    at += counts[i];
  }
  return d;
}

}  // namespace tilenet::nn::data
