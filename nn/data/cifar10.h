// CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin from cifar-10-binary.tar.gz): records
// of 1 label byte (0..9) and 3072 pixel bytes, channel-major (1024 red, 1024 green, 1024 blue, each
// 32x32 row-major). Returned as NHWC f32 [N, 32, 32, 3] (divided by 255 when scale is true) and i32
// labels [N]. The file size must be a whole, nonzero number of records and every label must be
// 0..9; failures are IoError naming the file, what was found and what was expected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "nn/data/labeled_images.h"

namespace tilenet::nn::data {

constexpr std::size_t kCifarRecordBytes = 1 + 3 * 32 * 32;

LabeledImages parse_cifar10(const std::uint8_t* data, std::size_t size, const std::string& name, bool scale = true);
LabeledImages load_cifar10_batch(const std::string& path, bool scale = true);
// train: data_batch_1.bin .. data_batch_5.bin concatenated (50,000 images); else test_batch.bin.
// `dir` may also be the folder that holds cifar-10-batches-bin/.
LabeledImages load_cifar10(const std::string& dir, bool train, bool scale = true);

}  // namespace tilenet::nn::data
