// GPU checks on tensor/: overlapping device copies against the CPU result, i32 fills (memset and
// upload paths) over poisoned reused memory, stream overrides and the device they select, the
// requested-bytes statistics, empty_cache keeping the current device, and (with two GPUs) peer
// copies ordered after the source device's stream.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "tensor/memory.h"
#include "tensor/ops.h"
#include "tensor/stream.h"
#include "tensor/tensor.h"
#include "test_util.h"

using namespace tilenet;

namespace {

// Runs the same copy on a CPU tensor and on its CUDA copy; the results must be bitwise equal.
template <typename Copy>
void expect_same_as_cpu(const Tensor& start, Copy copy) {
  Tensor cpu = start.clone();
  Tensor gpu = start.to(Device::cuda());
  copy(cpu);
  copy(gpu);
  EXPECT_TRUE(test::all_equal(gpu.to_vector(), cpu.to_vector()));
}

}  // namespace

TEST(TensorCopyGpu, OverlappingViewsMatchTheCpu) {
  TILENET_REQUIRE_GPU();
  SCOPED_TRACE(test::kSeed);
  // Large enough that a plain device memcpy over overlapping ranges would race across blocks.
  const std::int64_t n = test::small_mode() ? 4099 : (1 << 20) + 3;
  for (DType dt : {DType::f32, DType::f16}) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor rows = Tensor::uniform({n, 3}, -1, 1, test::kSeed, Device::cpu(), dt);
    expect_same_as_cpu(rows, [&](Tensor& t) { t.slice(0, n - 1).copy_from(t.slice(1, n)); });
    expect_same_as_cpu(rows, [&](Tensor& t) { t.slice(1, n).copy_from(t.slice(0, n - 1)); });
    expect_same_as_cpu(rows, [&](Tensor& t) { t.slice(0, n / 2).copy_from(t.slice(n / 4, n / 4 + n / 2)); });
    // Element (not row) shifts: odd byte offsets into the block.
    const Tensor flat = rows.reshape({-1});
    const std::int64_t m = flat.numel();
    expect_same_as_cpu(flat, [&](Tensor& t) { t.slice(0, m - 1).copy_from(t.slice(1, m)); });
    expect_same_as_cpu(flat, [&](Tensor& t) { t.slice(1, m).copy_from(t.slice(0, m - 1)); });
    expect_same_as_cpu(flat, [&](Tensor& t) { t.copy_from(t); });
  }
  // The temporary went back to the cache.
  const MemoryStats before = memory::stats(0);
  {
    Tensor t = Tensor::zeros({n}, DType::f32, Device::cuda());
    t.slice(0, n - 1).copy_from(t.slice(1, n));
    cuda::synchronize(0);
  }
  EXPECT_EQ(memory::stats(0).bytes_in_use, before.bytes_in_use);
}

TEST(TensorFillGpu, I32FillsOverwriteReusedMemory) {
  TILENET_REQUIRE_GPU();
  const std::int64_t n = 100003;
  for (float value : {0.0f, -1.0f, -16843010.0f /* 0xfefefefe */, 7.0f, 123456.0f, -2147483648.0f}) {
    SCOPED_TRACE(value);
    // Poison a block of the same size and free it, so the fill most likely lands on it.
    { Tensor poison = Tensor::full({n}, 1234567.0f, DType::i32, Device::cuda()); }
    Tensor t = Tensor::full({n}, value, DType::i32, Device::cuda());
    const std::vector<std::int32_t> got = t.to_ints();
    const std::vector<std::int32_t> want = Tensor::full({n}, value, DType::i32).to_ints();
    EXPECT_EQ(got, want);
  }
  { Tensor poison = Tensor::full({n}, 5.0f, DType::i32, Device::cuda()); }
  EXPECT_EQ(Tensor::zeros({n}, DType::i32, Device::cuda()).to_ints(), std::vector<std::int32_t>(n, 0));
  EXPECT_EQ(Tensor::zeros({0}, DType::i32, Device::cuda()).numel(), 0);
}

TEST(StreamGpu, OverrideSelectsAndValidatesTheDevice) {
  TILENET_REQUIRE_GPU();
  cudaStream_t mine;
  TILENET_CUDA_CHECK(cudaStreamCreate(&mine));
  {
    cuda::StreamGuard g(mine, 0);
    EXPECT_EQ(cuda::current_stream(0), mine);
    int current = -1;
    TILENET_CUDA_CHECK(cudaGetDevice(&current));
    EXPECT_EQ(current, 0) << "current_stream(0) must make cuda:0 current, override or not";
    // An override for a device index the machine lacks is refused, like the default path.
    EXPECT_THROW({ cuda::StreamGuard bad(mine, cuda_device_count()); }, DeviceError);
    EXPECT_EQ(cuda::current_stream(0), mine);
    Tensor t = Tensor::full({1000}, 3.0f, DType::f32, Device::cuda());
    EXPECT_EQ(sum(t).item(), 3000.0f);
  }
  // cuda:0's stream is not a stream of cuda:1.
  if (cuda_device_count() >= 2) {
    EXPECT_TRUE(test::throws_with<DeviceError>([&] { cuda::StreamGuard g(mine, 1); }, {"belongs to cuda:0"}));
  }
  TILENET_CUDA_CHECK(cudaStreamSynchronize(mine));
  TILENET_CUDA_CHECK(cudaStreamDestroy(mine));
}

TEST(MemoryGpu, RequestedBytesAreCountedExactly) {
  TILENET_REQUIRE_GPU();
  cudaStream_t s = cuda::current_stream(0);
  memory::reset_peak(0);
  const MemoryStats before = memory::stats(0);
  EXPECT_EQ(before.peak_requested_bytes, before.requested_bytes_in_use);
  EXPECT_EQ(before.peak_bytes_reserved, before.bytes_reserved);
  {
    DeviceBuffer a(1000, 0, s), b(3 << 20, 0, s);
    const MemoryStats mid = memory::stats(0);
    EXPECT_GE(mid.peak_bytes_reserved, mid.bytes_reserved);
    EXPECT_GE(mid.bytes_reserved, mid.bytes_in_use);
    EXPECT_EQ(mid.requested_bytes_in_use - before.requested_bytes_in_use, 1000u + (3u << 20));
    EXPECT_GE(mid.bytes_in_use - before.bytes_in_use, 1024u + (3u << 20));  // rounded blocks
    EXPECT_GE(mid.peak_requested_bytes, mid.requested_bytes_in_use);
    EXPECT_LE(mid.peak_requested_bytes, mid.peak_bytes_in_use);
  }
  {
    DeviceBuffer c(600, 0, s);  // may reuse the 1000-byte request's 1024-byte block
    EXPECT_EQ(memory::stats(0).requested_bytes_in_use - before.requested_bytes_in_use, 600u);
  }
  const MemoryStats after = memory::stats(0);
  EXPECT_EQ(after.requested_bytes_in_use, before.requested_bytes_in_use);
  EXPECT_EQ(after.peak_requested_bytes - before.requested_bytes_in_use, 1000u + (3u << 20));
  memory::reset_peak(0);
  EXPECT_EQ(memory::stats(0).peak_requested_bytes, after.requested_bytes_in_use);
  memory::empty_cache(0);  // the reserved peak stays until reset_peak
  const MemoryStats emptied = memory::stats(0);
  EXPECT_GE(emptied.peak_bytes_reserved, emptied.bytes_reserved + (3u << 20));
  memory::reset_peak(0);
  EXPECT_EQ(memory::stats(0).peak_bytes_reserved, emptied.bytes_reserved);
}

TEST(MemoryGpu, EmptyCacheReleasesAndKeepsTheCurrentDevice) {
  TILENET_REQUIRE_GPU();
  { Tensor t = Tensor::empty({1 << 20}, DType::f32, Device::cuda()); }
  int before = -1, after = -1;
  TILENET_CUDA_CHECK(cudaGetDevice(&before));
  memory::empty_cache(0);
  TILENET_CUDA_CHECK(cudaGetDevice(&after));
  EXPECT_EQ(after, before);
  const MemoryStats st = memory::stats(0);
  EXPECT_EQ(st.bytes_reserved, st.bytes_in_use) << "every cached block went back to the driver";
  if (cuda_device_count() >= 2) {
    TILENET_CUDA_CHECK(cudaSetDevice(0));
    { Tensor t = Tensor::empty({1 << 20}, DType::f32, Device::cuda(1)); }
    TILENET_CUDA_CHECK(cudaSetDevice(0));
    memory::empty_cache(1);
    TILENET_CUDA_CHECK(cudaGetDevice(&after));
    EXPECT_EQ(after, 0);
    const MemoryStats st1 = memory::stats(1);
    EXPECT_EQ(st1.bytes_reserved, st1.bytes_in_use);
  }
}

TEST(TensorCopyGpu, PeerCopiesWaitForTheSourceStream) {
  TILENET_REQUIRE_GPU();
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs two CUDA devices";
  SCOPED_TRACE(test::kSeed);
  const std::int64_t n = 1 << 22;
  const Tensor want = Tensor::uniform({n}, -1, 1, test::kSeed);
  for (int rep = 0; rep < 4; ++rep) {
    // Written by a kernel on cuda:1's stream and copied at once, with no synchronisation between.
    Tensor on1 = Tensor::uniform({n}, -1, 1, test::kSeed, Device::cuda(1));
    Tensor on0 = on1.to(Device::cuda(0));
    on1 = Tensor();  // its block may be reused by cuda:1's next work: that must wait for the copy
    Tensor scribble = Tensor::full({n}, 9.0f, DType::f32, Device::cuda(1));
    EXPECT_TRUE(test::all_equal(on0.to_vector(), want.to_vector()));
    Tensor back = on0.to(Device::cuda(1));
    EXPECT_TRUE(test::all_equal(back.to_vector(), want.to_vector()));
  }
}
