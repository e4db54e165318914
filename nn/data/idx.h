// IDX files (the MNIST / Fashion-MNIST format), raw or gzipped (detected by the gzip magic, not
// the name). Header: two zero bytes, an element-type byte (0x08: unsigned byte, the only type
// accepted here), the number of dimensions, then each dimension as a big-endian u32; then the
// data. Everything is checked before the data is read: magic, type, rank, the size product
// (overflow), that it fits what the file can hold (for gzip: the compressed size times deflate's
// maximum ratio), and that the file ends exactly where the data ends. Every failure is an IoError
// naming the file, what was found and what was expected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nn/data/labeled_images.h"

namespace tilenet::nn::data {

struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;  // product(dims) bytes, row-major
};

// At most this many dimensions (tilenet tensors hold up to 5, images gain a channel).
constexpr int kIdxMaxDims = 4;

// Parses a whole file held in memory; `name` stands for the path in error messages.
IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& name);
IdxArray read_idx(const std::string& path);

// Images: a 3-D IDX [N, H, W] -> f32 [N, H, W, 1], divided by 255 when scale is true.
Tensor idx_images(const IdxArray& a, const std::string& name, bool scale = true);
// Labels: a 1-D IDX [N] -> i32 [N]; with num_classes > 0 every label must be below it.
Tensor idx_labels(const IdxArray& a, const std::string& name, int num_classes = 0);

Tensor load_idx_images(const std::string& path, bool scale = true);
Tensor load_idx_labels(const std::string& path, int num_classes = 0);
// An images file and a labels file of the same length.
LabeledImages load_idx(const std::string& images_path, const std::string& labels_path, bool scale = true,
                       int num_classes = 10);

// MNIST-style directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte, raw or with .gz (as
// /usr/share/datasets/fashion-mnist and yann.lecun.com's MNIST ship them). train = false: t10k.
LabeledImages load_mnist(const std::string& dir, bool train, bool scale = true);

}  // namespace tilenet::nn::data
