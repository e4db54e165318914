#include "nn/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "nn/io/file_util.h"
#include "nn/io/json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace tilenet::nn::io {
namespace {

// Where the bytes come from: a file or memory.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::uint64_t size() const = 0;
  virtual void read(std::uint64_t offset, void* dst, std::size_t n) const = 0;
};

class FileSource : public Source {
 public:
  explicit FileSource(const std::string& path) : f_(path) {}
  std::uint64_t size() const override { return f_.size(); }
  void read(std::uint64_t offset, void* dst, std::size_t n) const override { f_.read_at(offset, dst, n); }

 private:
  InputFile f_;
};

class MemorySource : public Source {
 public:
  MemorySource(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t offset, void* dst, std::size_t n) const override {
    if (n) std::memcpy(dst, data_ + offset, n);  // callers stay inside [0, size) (validated)
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

struct Entry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin, end;
  std::size_t order;  // position in the JSON header
};

const char* st_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::i32: return "I32";
  }
  return "?";
}

bool known_unsupported_dtype(const std::string& s) {
  static const std::set<std::string> others = {"BOOL", "U8",      "I8",      "I16",     "U16",     "BF16",
                                               "U32",  "I64",     "U64",     "F64",     "F8_E5M2", "F8_E4M3",
                                               "F8_E8M0", "F4",   "F6_E2M3", "F6_E3M2", "C64"};
  return others.count(s) > 0;
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Validates one tensor entry of the header; `data_len` is the size of the byte buffer.
Entry parse_entry(const std::string& file, const std::string& name, const JsonValue& v, std::uint64_t data_len,
                  std::size_t order) {
  const std::string who = file + ": tensor " + quote_for_message(name);
  auto bad = [&](const std::string& what) { return IoError(who + ": " + what); };
  if (name.empty()) throw IoError(file + ": a tensor has an empty name");
  if (!v.is_object()) throw bad(std::string("header entry is a ") + v.type_name() + ", expected an object");
  const JsonValue *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& [k, m] : v.members) {
    if (k == "dtype") dtype = &m;
    else if (k == "shape") shape = &m;
    else if (k == "data_offsets") offsets = &m;
    else throw bad("unexpected field " + quote_for_message(k) + " (expected dtype, shape, data_offsets)");
  }
  if (!dtype || !shape || !offsets) throw bad("missing field (each tensor needs dtype, shape and data_offsets)");
  Entry e;
  e.name = name;
  e.order = order;
  if (!dtype->is_string()) throw bad(std::string("dtype is a ") + dtype->type_name() + ", expected a string");
  if (dtype->text == "F32") e.dtype = DType::f32;
  else if (dtype->text == "F16") e.dtype = DType::f16;
  else if (dtype->text == "I32") e.dtype = DType::i32;
  else if (known_unsupported_dtype(dtype->text))
    throw bad("dtype " + dtype->text + " is not supported (tilenet reads F32, F16 and I32)");
  else
    throw bad("unknown dtype " + quote_for_message(dtype->text) + " (expected F32, F16 or I32)");

  if (!shape->is_array()) throw bad(std::string("shape is a ") + shape->type_name() + ", expected an array");
  if (shape->items.size() > static_cast<std::size_t>(Shape::kMaxDims))
    throw bad("shape has " + std::to_string(shape->items.size()) + " dimensions; tilenet supports at most " +
              std::to_string(Shape::kMaxDims));
  std::uint64_t numel = 1;
  bool overflow = false;
  for (const JsonValue& d : shape->items) {
    std::uint64_t x;
    if (!d.as_u64(x) || x > static_cast<std::uint64_t>(INT64_MAX))
      throw bad("shape entry " + (d.type == JsonValue::Type::number ? d.text : std::string(d.type_name())) +
                " is not a non-negative integer");
    e.shape.push_back(static_cast<std::int64_t>(x));
    if (x != 0 && numel > static_cast<std::uint64_t>(INT64_MAX) / x) overflow = true;
    numel *= x;
  }
  const std::uint64_t item = itemsize(e.dtype);
  if (overflow || numel > UINT64_MAX / item)
    throw bad("shape " + shape_str(e.shape) + " has more elements than a 64-bit size can hold");
  const std::uint64_t nbytes = numel * item;

  if (!offsets->is_array() || offsets->items.size() != 2)
    throw bad("data_offsets must be an array of two integers [begin, end]");
  if (!offsets->items[0].as_u64(e.begin) || !offsets->items[1].as_u64(e.end))
    throw bad("data_offsets must hold non-negative integers");
  if (e.begin > e.end)
    throw bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] end before they begin");
  if (e.end > data_len)
    throw bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
              "] reach past the data buffer, which holds " + std::to_string(data_len) + " bytes");
  if (e.end - e.begin != nbytes)
    throw bad("shape " + shape_str(e.shape) + " of " + dtype->text + " needs " + std::to_string(nbytes) +
              " bytes but data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " +
              std::to_string(e.end - e.begin));
  return e;
}

SafetensorsContents load_from(const Source& src, const std::string& file) {
  const std::uint64_t size = src.size();
  if (size < 8)
    throw IoError(file + ": file is " + std::to_string(size) +
                  " bytes, too short for the 8-byte header length of a safetensors file");
  std::uint8_t len_bytes[8];
  src.read(0, len_bytes, 8);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  if (header_len > size - 8)
    throw IoError(file + ": header length " + std::to_string(header_len) + " exceeds the " +
                  std::to_string(size - 8) + " bytes that follow it (truncated or not a safetensors file)");
  if (header_len > kSafetensorsMaxHeaderBytes)
    throw IoError(file + ": header length " + std::to_string(header_len) + " is above the limit of " +
                  std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  if (header_len < 2) throw IoError(file + ": header length " + std::to_string(header_len) + " is too short for JSON");
  std::string header(static_cast<std::size_t>(header_len), '\0');
  src.read(8, header.data(), header.size());
  if (header[0] != '{') throw IoError(file + ": header does not start with '{' (not a safetensors file?)");
  JsonValue root;
  try {
    root = parse_json(header);
  } catch (const JsonError& e) {
    throw IoError(file + ": header is not valid JSON: " + e.what());
  }
  const std::uint64_t data_start = 8 + header_len;
  const std::uint64_t data_len = size - data_start;

  SafetensorsContents out;
  std::vector<Entry> entries;
  for (const auto& [key, v] : root.members) {
    if (key == "__metadata__") {
      if (!v.is_object()) throw IoError(file + ": __metadata__ is a " + v.type_name() + ", expected an object");
      for (const auto& [mk, mv] : v.members) {
        if (!mv.is_string())
          throw IoError(file + ": __metadata__ value of " + quote_for_message(mk) + " is a " + mv.type_name() +
                        ", expected a string");
        out.metadata[mk] = mv.text;
      }
      continue;
    }
    entries.push_back(parse_entry(file, key, v, data_len, entries.size()));
  }
  // The tensors must tile the data buffer: sorted by offset, each starting where the last ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : a.order < b.order);
  });
  std::uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < cursor)
      throw IoError(file + ": tensors " + quote_for_message(prev->name) + " [" + std::to_string(prev->begin) + ", " +
                    std::to_string(prev->end) + ") and " + quote_for_message(e.name) + " [" +
                    std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlap");
    if (e.begin > cursor)
      throw IoError(file + ": data bytes [" + std::to_string(cursor) + ", " + std::to_string(e.begin) +
                    ") belong to no tensor (expected " + quote_for_message(e.name) + " to start at " +
                    std::to_string(cursor) + ")");
    cursor = e.end;
    prev = &e;
  }
  if (cursor != data_len)
    throw IoError(file + ": the data buffer holds " + std::to_string(data_len) + " bytes but the tensors cover " +
                  std::to_string(cursor) + " (extra bytes at the end, or a tensor is missing)");

  // Validated: allocate (bounded by the file size) and read.
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(Shape(e.shape), e.dtype, Device::cpu());
    src.read(data_start + e.begin, t.raw_data(), static_cast<std::size_t>(e.end - e.begin));
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace

std::string safetensors_header(const NamedTensors& tensors, const Metadata& metadata) {
  std::set<std::string> seen;
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      TILENET_CHECK(valid_utf8(k) && valid_utf8(v), ValueError, "save_safetensors: metadata ",
                    quote_for_message(k), " is not valid UTF-8");
      if (!first) h += ',';
      first = false;
      append_json_string(h, k);
      h += ':';
      append_json_string(h, v);
    }
    h += '}';
  }
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TILENET_CHECK(!name.empty() && name != "__metadata__" && valid_utf8(name), ValueError,
                  "save_safetensors: invalid tensor name ", quote_for_message(name),
                  " (names must be non-empty UTF-8 and not __metadata__)");
    TILENET_CHECK(seen.insert(name).second, ValueError, "save_safetensors: tensor name ", quote_for_message(name),
                  " appears twice");
    check_defined(t, "save_safetensors", name.c_str());
    if (h.size() > 1) h += ',';
    append_json_string(h, name);
    h += ":{\"dtype\":\"";
    h += st_dtype(t.dtype());
    h += "\",\"shape\":[";
    for (int i = 0; i < t.ndim(); ++i) h += (i ? "," : "") + std::to_string(t.dim(i));
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.nbytes()) + "]}";
    offset += t.nbytes();
  }
  h += '}';
  while ((8 + h.size()) % 8 != 0) h += ' ';  // the format allows trailing spaces; aligns the data
  return h;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  const std::string header = safetensors_header(tensors, metadata);
  AtomicFileWriter w(path);
  std::uint8_t len[8];
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) len[i] = static_cast<std::uint8_t>(n & 0xff);
  w.write(len, 8);
  w.write(header.data(), header.size());
  for (const auto& [name, t] : tensors) {
    (void)name;
    const Tensor host = t.cpu();
    if (host.nbytes()) w.write(host.raw_data(), host.nbytes());
  }
  w.commit();
}

SafetensorsContents load_safetensors(const std::string& path) {
  FileSource src(path);
  return load_from(src, path);
}

SafetensorsContents parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& name) {
  MemorySource src(data, size);
  return load_from(src, name);
}

}  // namespace tilenet::nn::io
