#include "tensor/memory.h"

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "tensor/device_scope.h"
#include "tensor/error.h"

namespace tilenet::memory {
namespace {

using detail::check_cuda;

constexpr std::size_t kSmallRound = 512;            // small requests round to 512 B
constexpr std::size_t kLargeThreshold = 1u << 20;   // >= 1 MiB rounds to 128 KiB
constexpr std::size_t kLargeRound = 128u << 10;

// Rounds a request up to the allocator's granularity. A request so large that rounding would wrap
// around size_t (a mistyped or overflowed size) is refused before anything reaches the driver.
std::size_t round_size(std::size_t bytes, int device) {
  if (bytes > SIZE_MAX - kLargeRound)
    throw OutOfMemoryError(detail::make_message("out of memory on cuda:", device, ": cannot allocate ", bytes,
                                                " bytes (", format_bytes(bytes), "), more than any device holds"),
                           bytes, 0);
  if (bytes == 0) bytes = 1;
  const std::size_t r = bytes < kLargeThreshold ? kSmallRound : kLargeRound;
  return (bytes + r - 1) / r * r;
}

struct Block {
  void* ptr;
  std::size_t size;       // the block's size (what bytes_reserved and bytes_in_use count)
  int device;
  cudaStream_t stream;
  std::size_t requested;  // what the live allocation asked for (0 while the block is cached)
};

using detail::DeviceScope;

// Free blocks ordered by (device, stream, size, address) for best-fit lookup.
using FreeKey = std::tuple<int, std::uintptr_t, std::size_t, std::uintptr_t>;

class CudaCache {
 public:
  static CudaCache& instance() {
    static CudaCache* c = new CudaCache();  // never destroyed: outlives static tensors at exit
    return *c;
  }

  void* allocate(std::size_t bytes, int device, cudaStream_t stream) {
    const std::size_t size = round_size(bytes, device);
    std::lock_guard<std::mutex> lock(mu_);
    auto& st = stats_[device];
    // Best fit among cached blocks of this device and stream, at most twice the rounded size so
    // that small requests do not pin large blocks (written so that 2 * size cannot wrap).
    auto it = free_.lower_bound(FreeKey{device, key(stream), size, 0});
    if (it != free_.end() && std::get<0>(*it) == device && std::get<1>(*it) == key(stream) &&
        std::get<2>(*it) - size <= size) {
      Block b = blocks_free_.at(std::get<3>(*it));
      blocks_free_.erase(std::get<3>(*it));
      free_.erase(it);
      b.requested = bytes;
      live_[b.ptr] = b;
      account_alloc(st, b.size, bytes);
      return b.ptr;
    }
    void* p = nullptr;
    DeviceScope on_device(device);
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached(device);
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      std::size_t free_b = 0, total_b = 0;
      if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
      if (err == cudaErrorMemoryAllocation)
        throw OutOfMemoryError(
            detail::make_message("out of memory on cuda:", device, ": tried to allocate ",
                                 format_bytes(size), " (", size, " bytes); device has ",
                                 format_bytes(free_b), " free of ", format_bytes(total_b), ", ",
                                 format_bytes(st.bytes_in_use), " in use by tilenet"),
            size, free_b);
      throw CudaError(detail::make_message("cudaMalloc(", size, " bytes) on cuda:", device,
                                           " failed: ", cudaGetErrorString(err)),
                      err);
    }
    live_[p] = Block{p, size, device, stream, bytes};
    st.bytes_reserved += size;
    if (st.bytes_reserved > st.peak_bytes_reserved) st.peak_bytes_reserved = st.bytes_reserved;
    st.cuda_mallocs++;
    account_alloc(st, size, bytes);
    return p;
  }

  void deallocate(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: ignore rather than corrupt the pool
    Block b = it->second;
    live_.erase(it);
    stats_[b.device].bytes_in_use -= b.size;
    stats_[b.device].requested_bytes_in_use -= b.requested;
    b.requested = 0;
    blocks_free_[reinterpret_cast<std::uintptr_t>(p)] = b;
    free_.insert(FreeKey{b.device, key(b.stream), b.size, reinterpret_cast<std::uintptr_t>(p)});
  }

  MemoryStats stats(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_[device];
  }
  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_[device].peak_bytes_in_use = stats_[device].bytes_in_use;
    stats_[device].peak_requested_bytes = stats_[device].requested_bytes_in_use;
    stats_[device].peak_bytes_reserved = stats_[device].bytes_reserved;
  }
  void empty(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached(device);
  }

 private:
  static std::uintptr_t key(cudaStream_t s) { return reinterpret_cast<std::uintptr_t>(s); }
  static void account_alloc(MemoryStats& st, std::size_t size, std::size_t requested) {
    st.bytes_in_use += size;
    st.requested_bytes_in_use += requested;
    st.allocations++;
    if (st.bytes_in_use > st.peak_bytes_in_use) st.peak_bytes_in_use = st.bytes_in_use;
    if (st.requested_bytes_in_use > st.peak_requested_bytes) st.peak_requested_bytes = st.requested_bytes_in_use;
  }
  // Caller holds mu_. Hands `device`'s cached blocks back to the driver, with `device` current,
  // after its queued work is done (a cached block may still be read by work queued before its free).
  // A failing call throws CudaError; the blocks not yet freed, that one included, stay cached and
  // counted, so the statistics keep matching what is held from the driver.
  void release_cached(int device) {
    auto it = free_.lower_bound(FreeKey{device, 0, 0, 0});
    if (it == free_.end() || std::get<0>(*it) != device) return;
    DeviceScope on_device(device);
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize()", __FILE__, __LINE__);
    while (it != free_.end() && std::get<0>(*it) == device) {
      const std::uintptr_t addr = std::get<3>(*it);
      const Block& b = blocks_free_.at(addr);
      check_cuda(cudaFree(b.ptr), "cudaFree(cached block)", __FILE__, __LINE__);
      stats_[device].bytes_reserved -= b.size;
      blocks_free_.erase(addr);
      it = free_.erase(it);
    }
  }

  std::mutex mu_;
  std::set<FreeKey> free_;
  std::unordered_map<std::uintptr_t, Block> blocks_free_;
  std::unordered_map<void*, Block> live_;
  std::unordered_map<int, MemoryStats> stats_;
};

}  // namespace

namespace {
thread_local std::uint64_t t_allocations = 0;
thread_local std::uint64_t t_deallocations = 0;
}  // namespace

void* cuda_allocate(std::size_t bytes, int device, cudaStream_t stream) {
  void* p = CudaCache::instance().allocate(bytes, device, stream);
  ++t_allocations;
  return p;
}
std::uint64_t thread_allocations() { return t_allocations; }
std::uint64_t thread_deallocations() { return t_deallocations; }
void cuda_deallocate(void* ptr) {
  if (ptr == nullptr) return;
  CudaCache::instance().deallocate(ptr);
  ++t_deallocations;
}
MemoryStats stats(int device) { return CudaCache::instance().stats(device); }
void reset_peak(int device) { CudaCache::instance().reset_peak(device); }
void empty_cache(int device) { CudaCache::instance().empty(device); }

void* host_allocate(std::size_t bytes) {
  // Near SIZE_MAX the rounding below would wrap to a tiny size: refuse such a request outright.
  const std::size_t size = bytes > SIZE_MAX - 63 ? 0 : (bytes + 63) / 64 * 64;
  void* p = bytes > SIZE_MAX - 63 ? nullptr : std::aligned_alloc(64, size == 0 ? 64 : size);
  if (!p)
    throw OutOfMemoryError(detail::make_message("out of host memory: tried to allocate ",
                                                format_bytes(bytes), " (", bytes, " bytes)"),
                           bytes, 0);
  return p;
}
void host_deallocate(void* ptr) { std::free(ptr); }

}  // namespace tilenet::memory

namespace tilenet {

DeviceBuffer::DeviceBuffer(std::size_t bytes, int device, cudaStream_t stream)
    : ptr_(bytes ? memory::cuda_allocate(bytes, device, stream) : nullptr), bytes_(bytes) {}

void DeviceBuffer::reset() noexcept {
  if (ptr_) memory::cuda_deallocate(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace tilenet
