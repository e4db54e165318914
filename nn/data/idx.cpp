#include "nn/data/idx.h"

#include <algorithm>
#include <cstdio>

#include "nn/io/file_util.h"
#include "nn/io/gzip.h"

namespace tilenet::nn::data {
namespace {

std::string hex(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v & 0xffu);
  return buf;
}

const char* idx_type_name(unsigned t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0b: return "int16";
    case 0x0c: return "int32";
    case 0x0d: return "float32";
    case 0x0e: return "float64";
  }
  return "unknown";
}

std::string dims_str(const std::vector<std::int64_t>& d) {
  std::string s;
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? " x " : "") + std::to_string(d[i]);
  return s;
}

// `capacity`: the most data bytes the input can hold after the header (what the raw file has
// left, or what the compressed bytes can expand to); `raw`: capacity is exact.
IdxArray parse_stream(io::ByteStream& in, std::uint64_t input_size, bool gz, const std::string& name) {
  const char* what = gz ? " decompressed" : "";
  std::uint8_t magic[4];
  const std::size_t got = in.read(magic, 4);
  if (got < 4)
    throw IoError(name + ": truncated: " + std::to_string(got) + what + " bytes, an IDX header needs at least 4");
  if (magic[0] != 0 || magic[1] != 0)
    throw IoError(name + ": not an IDX file: it starts with " + hex(magic[0]) + " " + hex(magic[1]) +
                  ", expected 0x00 0x00");
  if (magic[2] != 0x08)
    throw IoError(name + ": IDX element type " + hex(magic[2]) + " (" + idx_type_name(magic[2]) +
                  ") is not supported; expected 0x08 (unsigned byte)");
  const int ndim = magic[3];
  if (ndim < 1 || ndim > kIdxMaxDims)
    throw IoError(name + ": IDX header gives " + std::to_string(ndim) + " dimensions; expected 1 to " +
                  std::to_string(kIdxMaxDims));
  std::uint8_t raw_dims[4 * kIdxMaxDims];
  const std::size_t dim_bytes = 4u * static_cast<std::size_t>(ndim);
  const std::size_t got_dims = in.read(raw_dims, dim_bytes);
  if (got_dims < dim_bytes)
    throw IoError(name + ": truncated IDX header: " + std::to_string(ndim) + " dimensions need " +
                  std::to_string(dim_bytes) + " bytes after the magic, found " + std::to_string(got_dims));
  IdxArray a;
  std::uint64_t total = 1;
  bool overflow = false;
  for (int i = 0; i < ndim; ++i) {
    const std::uint64_t d = static_cast<std::uint64_t>(raw_dims[4 * i]) << 24 | raw_dims[4 * i + 1] << 16 |
                            raw_dims[4 * i + 2] << 8 | raw_dims[4 * i + 3];
    a.dims.push_back(static_cast<std::int64_t>(d));
    if (d != 0 && total > (std::uint64_t{1} << 62) / d) overflow = true;
    total *= d;
  }
  const std::uint64_t header = 4 + dim_bytes;
  if (overflow)
    throw IoError(name + ": IDX dimensions " + dims_str(a.dims) + " overflow a 64-bit size (corrupt header)");
  // Check the promise against what the input can hold before allocating anything.
  const std::uint64_t capacity = gz ? io::max_gunzip_bytes(input_size) : input_size - header;
  if (total > capacity) {
    if (gz)
      throw IoError(name + ": IDX header promises " + std::to_string(total) + " bytes of data (" + dims_str(a.dims) +
                    ") but " + std::to_string(input_size) + " compressed bytes cannot hold that much (corrupt)");
    throw IoError(name + ": truncated: the IDX header promises " + std::to_string(total) + " bytes of data (" +
                  dims_str(a.dims) + ") but only " + std::to_string(capacity) + " follow the header");
  }
  if (!gz && total < capacity)
    throw IoError(name + ": " + std::to_string(capacity - total) + " extra bytes after the " + std::to_string(total) +
                  " bytes of data the IDX header promises (" + dims_str(a.dims) + ")");
  // Raw: the size is known to be there. Gzip: grow with what actually decompresses, so a corrupt
  // header cannot make us allocate more than the data that really exists (times two).
  std::size_t got_data = 0;
  while (got_data < total) {
    const std::size_t left = static_cast<std::size_t>(total) - got_data;
    const std::size_t chunk = gz ? std::min(left, std::max<std::size_t>(std::size_t{1} << 20, got_data)) : left;
    a.data.resize(got_data + chunk);
    const std::size_t n = in.read(a.data.data() + got_data, chunk);
    got_data += n;
    if (n < chunk) break;
  }
  if (got_data < total)
    throw IoError(name + ": truncated: the IDX header promises " + std::to_string(total) + " bytes of data (" +
                  dims_str(a.dims) + ") but the" + what + " data ends after " + std::to_string(got_data));
  std::uint8_t extra;
  if (in.read(&extra, 1) != 0)
    throw IoError(name + ": extra" + what + " bytes after the " + std::to_string(total) +
                  " bytes of data the IDX header promises (" + dims_str(a.dims) + ")");
  return a;
}

}  // namespace

IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (io::is_gzip(data, size)) {
    io::GzipStream in(data, size, name);
    return parse_stream(in, size, true, name);
  }
  io::MemoryStream in(data, size);
  return parse_stream(in, size, false, name);
}

IdxArray read_idx(const std::string& path) {
  const std::vector<std::uint8_t> bytes = io::read_file(path);
  return parse_idx(bytes.data(), bytes.size(), path);
}

Tensor idx_images(const IdxArray& a, const std::string& name, bool scale) {
  if (a.dims.size() != 3)
    throw IoError(name + ": an image IDX file has 3 dimensions [N, rows, cols]; this one has " +
                  std::to_string(a.dims.size()) + " (" + dims_str(a.dims) + ")");
  Tensor x = Tensor::empty({a.dims[0], a.dims[1], a.dims[2], 1}, DType::f32, Device::cpu());
  float* p = x.data<float>();
  const float k = scale ? 1.0f / 255.0f : 1.0f;
  for (std::size_t i = 0; i < a.data.size(); ++i) p[i] = static_cast<float>(a.data[i]) * k;
  return x;
}

Tensor idx_labels(const IdxArray& a, const std::string& name, int num_classes) {
  if (a.dims.size() != 1)
    throw IoError(name + ": a label IDX file has 1 dimension [N]; this one has " + std::to_string(a.dims.size()) +
                  " (" + dims_str(a.dims) + ")");
  Tensor y = Tensor::empty({a.dims[0]}, DType::i32, Device::cpu());
  std::int32_t* p = y.data<std::int32_t>();
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    if (num_classes > 0 && a.data[i] >= num_classes)
      throw IoError(name + ": label " + std::to_string(a.data[i]) + " at index " + std::to_string(i) +
                    " is outside [0, " + std::to_string(num_classes) + ")");
    p[i] = a.data[i];
  }
  return y;
}

Tensor load_idx_images(const std::string& path, bool scale) { return idx_images(read_idx(path), path, scale); }

Tensor load_idx_labels(const std::string& path, int num_classes) {
  return idx_labels(read_idx(path), path, num_classes);
}

LabeledImages load_idx(const std::string& images_path, const std::string& labels_path, bool scale, int num_classes) {
  LabeledImages d{load_idx_images(images_path, scale), load_idx_labels(labels_path, num_classes)};
  if (d.x.dim(0) != d.y.dim(0))
    throw IoError(images_path + " holds " + std::to_string(d.x.dim(0)) + " images but " + labels_path + " holds " +
                  std::to_string(d.y.dim(0)) + " labels");
  return d;
}

LabeledImages load_mnist(const std::string& dir, bool train, bool scale) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  auto find = [&](const std::string& stem) {
    std::string tried;
    for (const std::string& p : {prefix + stem, prefix + stem + ".gz"}) {
      if (io::file_exists(p)) return p;
      tried += (tried.empty() ? "" : ", ") + p;
    }
    throw IoError("load_mnist: no " + std::string(train ? "training" : "test") + " file in " + dir + " (tried " +
                  tried + ")");
  };
  return load_idx(find("-images-idx3-ubyte"), find("-labels-idx1-ubyte"), scale, 10);
}

}  // namespace tilenet::nn::data
