// Tensor::copy_from: copies between tensors on any devices, and how each is ordered against the
// streams involved. Copies that touch host memory synchronise (host memory is pageable); device
// copies are asynchronous on the current stream.
#include <cstring>

#include "tensor/memory.h"
#include "tensor/stream.h"
#include "tensor/tensor.h"

namespace tilenet {
namespace {

// A timing-free event on the current device, destroyed with that device current again.
class ScopedEvent {
 public:
  ScopedEvent() {
    TILENET_CUDA_CHECK(cudaGetDevice(&device_));
    TILENET_CUDA_CHECK(cudaEventCreateWithFlags(&ev_, cudaEventDisableTiming));
  }
  ~ScopedEvent() {
    int current = device_;
    if (cudaGetDevice(&current) != cudaSuccess || (current != device_ && cudaSetDevice(device_) != cudaSuccess) ||
        cudaEventDestroy(ev_) != cudaSuccess || (current != device_ && cudaSetDevice(current) != cudaSuccess))
      (void)cudaGetLastError();  // a destructor must not throw; a sticky error resurfaces at the next call
  }
  ScopedEvent(const ScopedEvent&) = delete;
  ScopedEvent& operator=(const ScopedEvent&) = delete;
  cudaEvent_t get() const { return ev_; }

 private:
  int device_ = 0;
  cudaEvent_t ev_ = nullptr;
};

// Peer copy between two devices, ordered both ways: it starts after the work already queued on the
// source device's current stream (which may still be writing src), and later work on that stream
// (which may reuse src's memory once it is freed) waits for it to finish reading.
void copy_between_devices(void* dst, int dst_dev, const void* src, int src_dev, std::size_t bytes) {
  cudaStream_t src_stream = cuda::current_stream(src_dev);  // makes src_dev current
  ScopedEvent src_ready;
  TILENET_CUDA_CHECK(cudaEventRecord(src_ready.get(), src_stream));
  cudaStream_t dst_stream = cuda::current_stream(dst_dev);  // makes dst_dev current
  TILENET_CUDA_CHECK(cudaStreamWaitEvent(dst_stream, src_ready.get(), 0));
  TILENET_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_dev, src, src_dev, bytes, dst_stream));
  ScopedEvent copied;
  TILENET_CUDA_CHECK(cudaEventRecord(copied.get(), dst_stream));
  TILENET_CUDA_CHECK(cudaStreamWaitEvent(src_stream, copied.get(), 0));
}

}  // namespace

void Tensor::copy_from(const Tensor& src) {
  check_defined(*this, "Tensor::copy_from", "destination");
  check_defined(src, "Tensor::copy_from", "source");
  check_same_dtype(*this, src, "Tensor::copy_from");
  check_same_shape(*this, src, "Tensor::copy_from");
  const std::size_t bytes = nbytes();
  if (bytes == 0) return;
  // Views of one storage may overlap (t.slice(0, n - 1).copy_from(t.slice(1, n))). Distinct
  // storages never do: each owns its own block.
  const bool same_storage = shares_storage_with(src);
  if (same_storage && offset_ == src.offset_) return;  // a copy onto itself
  const bool overlap = same_storage && offset_ < src.offset_ + bytes && src.offset_ < offset_ + bytes;
  if (device_.is_cpu() && src.device_.is_cpu()) {
    std::memmove(raw_data(), src.raw_data(), bytes);
    return;
  }
  if (device_.is_cuda() && src.device_.is_cuda() && device_.index != src.device_.index) {
    copy_between_devices(raw_data(), device_.index, src.raw_data(), src.device_.index, bytes);
    return;
  }
  // Copies that touch host memory, and same-device copies, run on the current stream of the CUDA side.
  const int dev = device_.is_cuda() ? device_.index : src.device_.index;
  cudaStream_t s = cuda::current_stream(dev);
  if (overlap) {
    // cudaMemcpy is undefined for overlapping ranges: go through a temporary. It is freed in stream
    // order on s, after both copies.
    DeviceBuffer tmp(bytes, dev, s);
    TILENET_CUDA_CHECK(cudaMemcpyAsync(tmp.data(), src.raw_data(), bytes, cudaMemcpyDeviceToDevice, s));
    TILENET_CUDA_CHECK(cudaMemcpyAsync(raw_data(), tmp.data(), bytes, cudaMemcpyDeviceToDevice, s));
    return;
  }
  const cudaMemcpyKind kind = device_.is_cuda()
                                  ? (src.device_.is_cuda() ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                  : cudaMemcpyDeviceToHost;
  TILENET_CUDA_CHECK(cudaMemcpyAsync(raw_data(), src.raw_data(), bytes, kind, s));
  // Host memory is pageable: wait so that the host side may be reused or read at once.
  if (kind != cudaMemcpyDeviceToDevice) TILENET_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace tilenet
