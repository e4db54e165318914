// Byte streams for the dataset readers: memory, and gzip (zlib) decompression from memory.
// GzipStream accepts concatenated gzip members, reports corrupt or truncated data as IoError
// naming the file, and never produces more than the caller asks for (callers cap what they read
// by the sizes their headers promise, checked against the compressed size first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tilenet::nn::io {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Reads up to n bytes; returns fewer only at the end of the stream.
  virtual std::size_t read(std::uint8_t* dst, std::size_t n) = 0;
};

class MemoryStream : public ByteStream {
 public:
  MemoryStream(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t read(std::uint8_t* dst, std::size_t n) override;

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

class GzipStream : public ByteStream {
 public:
  // `name` (the file) appears in error messages. The data must outlive the stream.
  GzipStream(const std::uint8_t* data, std::size_t size, std::string name);
  ~GzipStream() override;
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;
  std::size_t read(std::uint8_t* dst, std::size_t n) override;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// True when the data starts with the gzip magic bytes 1f 8b.
bool is_gzip(const std::uint8_t* data, std::size_t size);

// Deflate cannot expand more than about 1032:1; a header that promises more output than this
// allows for `compressed` input bytes is corrupt.
inline std::uint64_t max_gunzip_bytes(std::uint64_t compressed) { return compressed * 1032 + 1024; }

}  // namespace tilenet::nn::io
