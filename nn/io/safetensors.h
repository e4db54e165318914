// Safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON header ({"name": {"dtype": "F32", "shape": [..], "data_offsets":
// [begin, end]}, ..., "__metadata__": {"key": "value"}}, padded with spaces to a multiple of 8),
// then the tensors' raw little-endian bytes. Files written here load in PyTorch through the
// `safetensors` package, and files it writes load here when their dtypes are F32, F16 or I32.
//
// save() writes a temporary file beside `path`, fsyncs it and renames it into place: an
// interrupted save leaves the previous file intact. load() validates the whole header before it
// reads any data: header length against the file size (and a 100 MB cap), strict JSON, entry
// fields, dtype names, shape products and byte sizes (overflow checked), data offsets inside the
// buffer, not overlapping and covering it exactly, unique names. Every failure is an IoError
// naming the file and what was found against what was expected. Round trips are bitwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace tilenet::nn::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsContents {
  NamedTensors tensors;  // CPU tensors in the order of their data in the file
  Metadata metadata;     // "__metadata__" (empty when absent)
};

// Tensors are written in the given order (CUDA tensors are copied to the host first). Names must
// be non-empty, unique, valid UTF-8 and not "__metadata__" (ValueError otherwise).
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});
SafetensorsContents load_safetensors(const std::string& path);
// The same validation on an in-memory file; `name` stands for the path in error messages.
SafetensorsContents parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& name);

// The header bytes save_safetensors writes (length prefix excluded), for tests and tools.
std::string safetensors_header(const NamedTensors& tensors, const Metadata& metadata = {});

// Largest header accepted (the reference implementation's limit).
constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100u << 20;

}  // namespace tilenet::nn::io
