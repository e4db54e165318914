// Device and host memory. CUDA memory comes from a caching allocator: freed blocks go back to a
// per-device pool and are reused by later requests of a similar size on the same stream, so a
// steady training loop does no cudaMalloc. Out of memory throws OutOfMemoryError saying how much
// was asked for and how much is free, after releasing the cache and retrying once; a request too
// large to round (within 128 KiB of SIZE_MAX) throws OutOfMemoryError without reaching the driver.
//
// Freed memory is reused in stream order on the stream it was allocated for, and on no other: a
// block used by work on another stream must not be freed until that work is done (keep a
// reference, or synchronise that stream first). See tensor/stream.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace tilenet {

// Per-device figures of the caching allocator. Blocks are never split: each request is rounded up
// (to 512 B below 1 MiB, to 128 KiB from 1 MiB) and served by a fresh block of that size or by a
// cached block of the same stream up to twice that size, so a live buffer can hold up to about
// twice what it asked for. The block figures count whole blocks; the requested figures count
// exactly the bytes asked for.
struct MemoryStats {
  std::size_t bytes_in_use = 0;            // sizes of the blocks held by live buffers
  std::size_t peak_bytes_in_use = 0;       // max of bytes_in_use since start or the last reset_peak()
  std::size_t bytes_reserved = 0;          // held from the driver: blocks in use + cached blocks
  std::size_t peak_bytes_reserved = 0;     // max of bytes_reserved since start or the last reset_peak()
  std::uint64_t allocations = 0;           // allocate() calls served
  std::uint64_t cuda_mallocs = 0;          // of those, the ones that had to call cudaMalloc
  std::size_t requested_bytes_in_use = 0;  // bytes asked for by the live buffers
  std::size_t peak_requested_bytes = 0;    // max of requested_bytes_in_use since start or reset_peak()
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
// Device blocks the calling thread returned to the cache since it started (null pointers not
// counted). A capture that frees a block would bake its address into the graph while the cache
// hands it out again: the capture checks this too.
std::uint64_t thread_deallocations();
// Sets the peaks to the current figures (in use, requested, reserved).
void reset_peak(int device = 0);
// Frees every cached (unused) block of `device` back to the driver, with `device` current, after
// waiting for the device's queued work. A failing CUDA call throws CudaError and leaves the blocks
// not yet freed cached (and counted).
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
