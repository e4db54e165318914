// Errors thrown by tilenet. Every layer (kernels, tensor, nn, optim) reports bad input with one of
// these types; the message names the op, what it got and what it expected. The library never
// calls exit() or assert() on user input, and after any of these the process stays usable.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tilenet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Wrong rank, wrong extents, incompatible operands.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// Unsupported or mismatched element type.
class DtypeError : public Error {
 public:
  using Error::Error;
};

// Tensors on different devices, a CUDA tensor on a machine without a GPU, a kernel not built for
// the device's architecture.
class DeviceError : public Error {
 public:
  using Error::Error;
};

// An argument outside its domain (negative size, learning rate, unknown name...).
class ValueError : public Error {
 public:
  using Error::Error;
};

// Files: missing, truncated, corrupt headers, offsets past the end.
class IoError : public Error {
 public:
  using Error::Error;
};

// A CUDA runtime call failed for a reason other than memory.
class CudaError : public Error {
 public:
  CudaError(const std::string& what, cudaError_t code) : Error(what), code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

// An allocation failed. Carries the size asked for and what the device (or host) had free.
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(const std::string& what, std::size_t requested, std::size_t free_bytes)
      : Error(what), requested_(requested), free_(free_bytes) {}
  std::size_t requested_bytes() const { return requested_; }
  std::size_t free_bytes() const { return free_; }

 private:
  std::size_t requested_;
  std::size_t free_;
};

namespace detail {

// Builds a message from any streamable pieces: make_message("gemm: got ", m, "x", k).
template <typename... Args>
std::string make_message(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

// Throws CudaError (or OutOfMemoryError for cudaErrorMemoryAllocation) naming the call and place.
// Clears the runtime's last-error slot first so a non-sticky failure leaves the process usable.
[[noreturn]] void throw_cuda_error(cudaError_t code, const char* expr, const char* file, int line);

inline void check_cuda(cudaError_t code, const char* expr, const char* file, int line) {
  if (code != cudaSuccess) throw_cuda_error(code, expr, file, line);
}

}  // namespace detail

// Human-readable byte count ("1.50 GiB").
std::string format_bytes(std::size_t bytes);

}  // namespace tilenet

// Checks a CUDA runtime call; throws tilenet::CudaError with file:line and the call's text.
#define TILENET_CUDA_CHECK(expr) ::tilenet::detail::check_cuda((expr), #expr, __FILE__, __LINE__)

// Throws ExcType with a message built from the remaining arguments when cond is false.
#define TILENET_CHECK(cond, ExcType, ...)                                   \
  do {                                                                      \
    if (!(cond)) throw ExcType(::tilenet::detail::make_message(__VA_ARGS__)); \
  } while (0)
