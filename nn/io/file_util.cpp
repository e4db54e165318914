#include "nn/io/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tensor/error.h"

namespace tilenet::nn::io {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::string dir_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

InputFile::InputFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw IoError(detail::make_message(path, ": cannot open: ", errno_text()));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw IoError(detail::make_message(path, ": not a regular file"));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_at(std::uint64_t offset, void* dst, std::size_t n) const {
  if (offset > size_ || n > size_ - offset)
    throw IoError(detail::make_message(path_, ": truncated: needed bytes [", offset, ", ", offset + n,
                                       ") but the file has ", size_));
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw IoError(detail::make_message(path_, ": read failed: ", errno_text()));
    if (got == 0) throw IoError(detail::make_message(path_, ": truncated while reading (file shrank?)"));
    out += got;
    offset += static_cast<std::uint64_t>(got);
    n -= static_cast<std::size_t>(got);
  }
}

std::vector<std::uint8_t> read_file(const std::string& path, std::uint64_t max_bytes) {
  InputFile f(path);
  if (f.size() > max_bytes)
    throw IoError(detail::make_message(path, ": file is ", f.size(), " bytes, more than the ", max_bytes,
                                       " this reader accepts"));
  std::vector<std::uint8_t> data(static_cast<std::size_t>(f.size()));
  if (!data.empty()) f.read_at(0, data.data(), data.size());
  return data;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path) {
  TILENET_CHECK(!path.empty(), IoError, "cannot write a file with an empty path");
  std::vector<char> tmpl(path.begin(), path.end());
  const char suffix[] = ".tmp-XXXXXX";
  tmpl.insert(tmpl.end(), suffix, suffix + sizeof suffix);  // includes the NUL
  fd_ = ::mkstemp(tmpl.data());
  if (fd_ < 0) throw IoError(detail::make_message(path, ": cannot create a temporary file beside it: ", errno_text()));
  tmp_ = tmpl.data();
  ::fchmod(fd_, 0644);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) {
    if (fd_ >= 0) ::close(fd_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::fail(const std::string& what) {
  const std::string msg = detail::make_message(path_, ": ", what, ": ", errno_text());
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  tmp_.clear();
  throw IoError(msg);
}

void AtomicFileWriter::write(const void* data, std::size_t n) {
  TILENET_CHECK(fd_ >= 0 && !committed_, IoError, path_, ": write after the file was committed or failed");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t put = ::write(fd_, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) fail("write failed");
    p += put;
    n -= static_cast<std::size_t>(put);
  }
}

void AtomicFileWriter::commit() {
  TILENET_CHECK(fd_ >= 0 && !committed_, IoError, path_, ": commit after the file was committed or failed");
  if (::fsync(fd_) != 0) fail("fsync failed");
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail("close failed");
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot rename the temporary file into place");
  committed_ = true;
  // Make the rename itself durable; a failure here leaves a complete file in place, so it is ignored.
  const int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace tilenet::nn::io
