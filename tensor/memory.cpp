#include "tensor/memory.h"

#include <cstdlib>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"

namespace tilenet::memory {
namespace {

constexpr std::size_t kSmallRound = 512;            // small requests round to 512 B
constexpr std::size_t kLargeThreshold = 1u << 20;   // >= 1 MiB rounds to 128 KiB
constexpr std::size_t kLargeRound = 128u << 10;

std::size_t round_size(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  const std::size_t r = bytes < kLargeThreshold ? kSmallRound : kLargeRound;
  return (bytes + r - 1) / r * r;
}

struct Block {
  void* ptr;
  std::size_t size;
  int device;
  cudaStream_t stream;
};

// Free blocks ordered by (device, stream, size, address) for best-fit lookup.
using FreeKey = std::tuple<int, std::uintptr_t, std::size_t, std::uintptr_t>;

class CudaCache {
 public:
  static CudaCache& instance() {
    static CudaCache* c = new CudaCache();  // never destroyed: outlives static tensors at exit
    return *c;
  }

  void* allocate(std::size_t bytes, int device, cudaStream_t stream) {
    const std::size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto& st = stats_[device];
    // Best fit among cached blocks of this device and stream, at most twice the rounded size so
    // that small requests do not pin large blocks.
    auto it = free_.lower_bound(FreeKey{device, key(stream), size, 0});
    if (it != free_.end() && std::get<0>(*it) == device &&
        std::get<1>(*it) == key(stream) && std::get<2>(*it) <= 2 * size) {
      Block b = blocks_free_.at(std::get<3>(*it));
      blocks_free_.erase(std::get<3>(*it));
      free_.erase(it);
      live_[b.ptr] = b;
      account_alloc(st, b.size);
      return b.ptr;
    }
    void* p = nullptr;
    int prev = -1;
    check(cudaGetDevice(&prev), "cudaGetDevice");
    if (prev != device) check(cudaSetDevice(device), "cudaSetDevice");
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
      if (prev != device) cudaSetDevice(prev);
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
    if (prev != device) check(cudaSetDevice(prev), "cudaSetDevice");
    live_[p] = Block{p, size, device, stream};
    st.bytes_reserved += size;
    st.cuda_mallocs++;
    account_alloc(st, size);
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
  }
  void empty(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached(device);
  }

 private:
  static std::uintptr_t key(cudaStream_t s) { return reinterpret_cast<std::uintptr_t>(s); }
  static void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) detail::throw_cuda_error(e, what, __FILE__, __LINE__);
  }
  static void account_alloc(MemoryStats& st, std::size_t size) {
    st.bytes_in_use += size;
    st.allocations++;
    if (st.bytes_in_use > st.peak_bytes_in_use) st.peak_bytes_in_use = st.bytes_in_use;
  }
  // Caller holds mu_. Waits for queued work before handing memory back to the driver.
  void release_cached(int device) {
    bool any = false;
    for (auto it = free_.begin(); it != free_.end();) {
      if (std::get<0>(*it) != device) {
        ++it;
        continue;
      }
      if (!any) {
        cudaDeviceSynchronize();
        any = true;
      }
      const std::uintptr_t addr = std::get<3>(*it);
      Block b = blocks_free_.at(addr);
      cudaFree(b.ptr);
      stats_[device].bytes_reserved -= b.size;
      blocks_free_.erase(addr);
      it = free_.erase(it);
    }
    (void)cudaGetLastError();
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
}  // namespace

void* cuda_allocate(std::size_t bytes, int device, cudaStream_t stream) {
  void* p = CudaCache::instance().allocate(bytes, device, stream);
  ++t_allocations;
  return p;
}
std::uint64_t thread_allocations() { return t_allocations; }
void cuda_deallocate(void* ptr) { CudaCache::instance().deallocate(ptr); }
MemoryStats stats(int device) { return CudaCache::instance().stats(device); }
void reset_peak(int device) { CudaCache::instance().reset_peak(device); }
void empty_cache(int device) { CudaCache::instance().empty(device); }

void* host_allocate(std::size_t bytes) {
  const std::size_t size = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, size == 0 ? 64 : size);
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
