// File helpers for the readers and writers: whole-file and positioned reads that report
// short files as IoError naming the path, and an atomic writer (temporary file in the same
// directory, fsync, rename into place, fsync of the directory) so an interrupted save never
// leaves a truncated file under the final name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tilenet::nn::io {

class InputFile {
 public:
  explicit InputFile(const std::string& path);  // IoError when it cannot be opened or is not a file
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads exactly n bytes at offset; IoError when the file is shorter.
  void read_at(std::uint64_t offset, void* dst, std::size_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// The whole file. IoError when it is larger than max_bytes.
std::vector<std::uint8_t> read_file(const std::string& path, std::uint64_t max_bytes = UINT64_MAX);

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);  // creates "<path>.tmp-XXXXXX"
  ~AtomicFileWriter();                                  // not committed: removes the temporary
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(const void* data, std::size_t n);
  // fsync, close, rename over `path`, fsync the directory. After this the file is in place.
  void commit();

 private:
  void fail(const std::string& what);
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// True when the path names an existing regular file.
bool file_exists(const std::string& path);

}  // namespace tilenet::nn::io
