// Device and host memory. CUDA memory comes from a caching allocator: freed blocks go back to a
// per-device pool and are reused by later requests of a similar size on the same stream, so a
// steady training loop does no cudaMalloc. Out of memory throws OutOfMemoryError saying how much
// was asked for and how much is free, after releasing the cache and retrying once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace tilenet {

struct MemoryStats {
  std::size_t bytes_in_use = 0;       // handed out to live buffers (rounded sizes)
  std::size_t peak_bytes_in_use = 0;  // since start or the last reset_peak_memory()
  std::size_t bytes_reserved = 0;     // held from the driver: in use + cached
  std::uint64_t allocations = 0;      // allocate() calls served
  std::uint64_t cuda_mallocs = 0;     // of those, the ones that had to call cudaMalloc
};

namespace memory {

// Allocates `bytes` on CUDA device `device` for use on `stream`. Never returns null for bytes > 0.
void* cuda_allocate(std::size_t bytes, int device, cudaStream_t stream);
// Returns a block to the cache. Stream-ordered: the block may be reused by later work on the
// stream it was allocated for, which runs after everything already queued there.
void cuda_deallocate(void* ptr);

MemoryStats stats(int device = 0);
// Device allocations served to the calling thread, on any device, since it started. Code that must
// know whether *it* allocated (a CUDA graph capture) reads this instead of stats(), which other
// threads' allocations also move.
std::uint64_t thread_allocations();
void reset_peak(int device = 0);
// Frees every cached (unused) block back to the driver.
void empty_cache(int device = 0);

// 64-byte aligned host memory; throws OutOfMemoryError on failure.
void* host_allocate(std::size_t bytes);
void host_deallocate(void* ptr);

}  // namespace memory

// Move-only RAII owner of a block of device memory from the caching allocator.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t bytes, int device, cudaStream_t stream);
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.ptr_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  void reset() noexcept;
  void* data() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  std::size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace tilenet
