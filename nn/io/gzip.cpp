#include "nn/io/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "tensor/error.h"

namespace tilenet::nn::io {

std::size_t MemoryStream::read(std::uint8_t* dst, std::size_t n) {
  const std::size_t k = std::min(n, size_ - pos_);
  if (k) std::memcpy(dst, data_ + pos_, k);
  pos_ += k;
  return k;
}

bool is_gzip(const std::uint8_t* data, std::size_t size) { return size >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

struct GzipStream::State {
  z_stream z{};
  const std::uint8_t* data;
  std::size_t size;
  std::size_t consumed = 0;  // input bytes handed to zlib so far
  std::string name;
  bool member_done = false;
};

GzipStream::GzipStream(const std::uint8_t* data, std::size_t size, std::string name) : s_(std::make_unique<State>()) {
  s_->data = data;
  s_->size = size;
  s_->name = std::move(name);
  if (inflateInit2(&s_->z, 15 + 16) != Z_OK)  // 16: gzip wrapper only
    throw IoError(s_->name + ": cannot initialise zlib");
}

GzipStream::~GzipStream() { inflateEnd(&s_->z); }

std::size_t GzipStream::read(std::uint8_t* dst, std::size_t n) {
  State& s = *s_;
  std::size_t produced = 0;
  while (produced < n) {
    if (s.member_done) {
      // Another gzip member may follow (gzip a b > c); anything else after the data is corrupt.
      const std::size_t left = s.size - s.consumed + s.z.avail_in;
      if (left == 0) break;
      const std::uint8_t* next = s.z.avail_in ? s.z.next_in : s.data + s.consumed;
      if (!is_gzip(next, left))
        throw IoError(s.name + ": " + std::to_string(left) + " bytes of non-gzip data after the compressed stream");
      if (inflateReset(&s.z) != Z_OK) throw IoError(s.name + ": zlib reset failed");
      s.member_done = false;
    }
    if (s.z.avail_in == 0 && s.consumed < s.size) {
      const std::size_t chunk = std::min<std::size_t>(s.size - s.consumed, 1u << 30);
      s.z.next_in = const_cast<Bytef*>(s.data + s.consumed);
      s.z.avail_in = static_cast<uInt>(chunk);
      s.consumed += chunk;
    }
    const std::size_t want = std::min<std::size_t>(n - produced, 1u << 30);
    s.z.next_out = dst + produced;
    s.z.avail_out = static_cast<uInt>(want);
    const int rc = inflate(&s.z, Z_NO_FLUSH);
    produced += want - s.z.avail_out;
    if (rc == Z_STREAM_END) {
      s.member_done = true;
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR) {
      // No progress: zlib needs more input (output space is never 0 here).
      if (s.z.avail_in == 0 && s.consumed < s.size) continue;
      throw IoError(s.name + ": gzip data is truncated (the compressed stream ends early)");
    }
    if (rc == Z_MEM_ERROR) throw IoError(s.name + ": zlib ran out of memory");
    throw IoError(s.name + ": corrupt gzip data (" + (s.z.msg ? s.z.msg : "zlib error " + std::to_string(rc)) + ")");
  }
  return produced;
}

}  // namespace tilenet::nn::io
