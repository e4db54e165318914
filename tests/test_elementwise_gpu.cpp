// GPU: every elementwise and reduction kernel against its CPU reference on random data, poisoned
// outputs, odd sizes and misaligned starting offsets; CPU and GPU RNG streams; device memory.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <tuple>

#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "kernels/rng.h"
#include "tensor/memory.h"
#include "tensor/ops.h"
#include "tensor/stream.h"
#include "test_util.h"

using namespace tilenet;
using kernels::BinaryOp;

namespace {

// Host data of T built from floats.
template <typename T>
std::vector<T> make(const std::vector<float>& v);
template <>
std::vector<float> make<float>(const std::vector<float>& v) { return v; }
template <>
std::vector<half> make<half>(const std::vector<float>& v) { return test::to_half(v); }
inline float as_float(float v) { return v; }
inline float as_float(half v) { return half_to_float(v); }

// A device copy of host data placed `offset` elements into a fresh buffer (misaligned starts).
template <typename T>
struct Dev {
  DeviceBuffer buf;
  T* ptr;
  std::int64_t n;
  Dev(const std::vector<T>& host, int offset) : buf((host.size() + offset + 8) * sizeof(T), 0, cuda::current_stream()),
                                                n(static_cast<std::int64_t>(host.size())) {
    ptr = buf.as<T>() + offset;
    cudaStream_t s = cuda::current_stream();
    if (!host.empty())
      TILENET_CUDA_CHECK(cudaMemcpyAsync(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, s));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  std::vector<float> get() const {
    cudaStream_t s = cuda::current_stream();
    std::vector<T> h(n);
    if (n) TILENET_CUDA_CHECK(cudaMemcpyAsync(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost, s));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<float> f(n);
    for (std::int64_t i = 0; i < n; ++i) f[i] = as_float(h[i]);
    return f;
  }
};

template <typename T>
std::vector<T> poisoned(std::int64_t n) {
  std::vector<T> v(n);
  for (auto& x : v) {
    if constexpr (std::is_same_v<T, float>)
      x = test::poison_f32();
    else
      x = test::poison_f16();
  }
  return v;
}

template <typename T>
std::vector<float> floats(const std::vector<T>& v) {
  std::vector<float> f(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) f[i] = as_float(v[i]);
  return f;
}

class ElementwiseGpu : public ::testing::TestWithParam<std::tuple<std::int64_t, int>> {
 protected:
  void SetUp() override { TILENET_REQUIRE_GPU(); }

  template <typename T>
  void run_all() {
    const auto [n, offset] = GetParam();
    if (test::small_mode() && n > 5000) GTEST_SKIP() << "large size skipped in small mode";
    SCOPED_TRACE(testing::Message() << "n=" << n << " offset=" << offset << " seed=" << test::kSeed);
    cudaStream_t s = cuda::current_stream();
    const auto fa = test::random_uniform(n, -4, 4, test::kSeed);
    auto fb = test::random_uniform(n, 0.5f, 3, test::kSeed + 1);
    for (std::size_t i = 0; i < fb.size(); i += 2) fb[i] = -fb[i];  // nonzero divisors of both signs
    const auto ha = make<T>(fa), hb = make<T>(fb);
    Dev<T> a(ha, offset), b(hb, offset);
    ASSERT_GT(test::l2_norm(floats(ha)), 0.0);
    std::vector<T> ref(n);

    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
      Dev<T> out(poisoned<T>(n), offset);
      kernels::binary(op, a.ptr, b.ptr, out.ptr, n, s);
      kernels::binary_ref(op, ha.data(), hb.data(), ref.data(), n);
      EXPECT_TRUE(test::all_equal(out.get(), floats(ref))) << kernels::binary_op_name(op);
    }
    // Operands aligned differently from each other: the vector path needs all three aligned.
    for (const auto& [oa, ob, oo] : {std::array<int, 3>{offset, offset, offset + 1}, {offset + 1, offset, offset}}) {
      Dev<T> a2(ha, oa), b2(hb, ob), out(poisoned<T>(n), oo);
      kernels::binary(BinaryOp::sub, a2.ptr, b2.ptr, out.ptr, n, s);
      kernels::binary_ref(BinaryOp::sub, ha.data(), hb.data(), ref.data(), n);
      EXPECT_TRUE(test::all_equal(out.get(), floats(ref))) << "sub, offsets " << oa << "/" << ob << "/" << oo;
    }
    {
      Dev<T> out(poisoned<T>(n), offset);
      kernels::scale(a.ptr, out.ptr, n, -1.75f, s);
      kernels::scale_ref(ha.data(), ref.data(), n, -1.75f);
      EXPECT_TRUE(test::all_equal(out.get(), floats(ref))) << "scale";
    }
    {
      Dev<T> y(hb, offset);
      std::vector<T> yref = hb;
      kernels::axpy(0.3f, a.ptr, y.ptr, n, s);
      kernels::axpy_ref(0.3f, ha.data(), yref.data(), n);
      EXPECT_TRUE(test::all_equal(y.get(), floats(yref))) << "axpy";
    }
    {
      Dev<T> out(poisoned<T>(n), offset);
      kernels::relu(a.ptr, out.ptr, n, s);
      kernels::relu_ref(ha.data(), ref.data(), n);
      EXPECT_TRUE(test::all_equal(out.get(), floats(ref))) << "relu";
      Dev<T> dx(poisoned<T>(n), offset);
      kernels::relu_backward(b.ptr, a.ptr, dx.ptr, n, s);
      kernels::relu_backward_ref(hb.data(), ha.data(), ref.data(), n);
      EXPECT_TRUE(test::all_equal(dx.get(), floats(ref))) << "relu_backward";
    }
    {
      Dev<T> out(poisoned<T>(n), offset);
      kernels::fill(out.ptr, n, 1.0f / 3.0f, s);
      kernels::fill_ref(ref.data(), n, 1.0f / 3.0f);
      EXPECT_TRUE(test::all_equal(out.get(), floats(ref))) << "fill";
    }
    // add_bias with a few row widths (vector path needs cols % 8 == 0: n = 1032 takes it).
    for (std::int64_t cols : {std::int64_t(1), std::int64_t(8), std::int64_t(7), n}) {
      if (cols <= 0 || n % cols != 0) continue;
      const std::int64_t rows = n / cols;
      const auto hbias = make<T>(test::random_uniform(cols, -1, 1, test::kSeed + 2));
      Dev<T> bias(hbias, offset), out(poisoned<T>(n), offset);
      kernels::add_bias(a.ptr, bias.ptr, out.ptr, rows, cols, s);
      kernels::add_bias_ref(ha.data(), hbias.data(), ref.data(), rows, cols);
      EXPECT_TRUE(test::all_equal(out.get(), floats(ref))) << "add_bias cols=" << cols;
    }
    // Reductions: float accumulation in a different order than the double reference.
    {
      DeviceBuffer ws(kernels::reduce_all_workspace_bytes(n), 0, s);
      Dev<float> out(std::vector<float>{test::poison_f32()}, 0);
      kernels::reduce_all(kernels::ReduceOp::sum, a.ptr, n, out.ptr, ws.data(), s);
      const float want = kernels::reduce_all_ref(kernels::ReduceOp::sum, ha.data(), n);
      double abs_sum = 0;
      for (float v : floats(ha)) abs_sum += std::fabs(v);
      EXPECT_NEAR(out.get()[0], want, 1e-6 * abs_sum + 1e-5) << "sum";
      kernels::reduce_all(kernels::ReduceOp::max, a.ptr, n, out.ptr, ws.data(), s);
      EXPECT_EQ(out.get()[0], kernels::reduce_all_ref(kernels::ReduceOp::max, ha.data(), n)) << "max";
    }
    for (std::int64_t cols : {std::int64_t(1), std::int64_t(33), std::int64_t(1025), n}) {
      if (cols <= 0 || n % cols != 0) continue;
      const std::int64_t rows = n / cols;
      Dev<float> out(poisoned<float>(rows), 0);
      std::vector<float> want(rows);
      kernels::reduce_lastdim(kernels::ReduceOp::max, a.ptr, rows, cols, out.ptr, s);
      kernels::reduce_lastdim_ref(kernels::ReduceOp::max, ha.data(), rows, cols, want.data());
      EXPECT_TRUE(test::all_equal(out.get(), want)) << "max_lastdim cols=" << cols;
      kernels::reduce_lastdim(kernels::ReduceOp::sum, a.ptr, rows, cols, out.ptr, s);
      kernels::reduce_lastdim_ref(kernels::ReduceOp::sum, ha.data(), rows, cols, want.data());
      EXPECT_TRUE(test::all_close(out.get(), want, 1e-5 * cols, 1e-5)) << "sum_lastdim cols=" << cols;
    }
  }
};

TEST_P(ElementwiseGpu, F32MatchesReference) { run_all<float>(); }
TEST_P(ElementwiseGpu, F16MatchesReference) { run_all<half>(); }

INSTANTIATE_TEST_SUITE_P(Sizes, ElementwiseGpu,
                         ::testing::Combine(::testing::Values(1, 7, 31, 33, 1023, 1025, 1032, (1 << 20) + 3),
                                            ::testing::Values(0, 1, 3)));

// ReLU passes NaN through (as PyTorch does: a diverging model must not look healthy) and keeps
// infinities; in the vector body and the scalar tail, f32 and f16.
template <typename T>
void check_relu_specials() {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> pattern = {nan, -1.0f, 2.0f, -0.0f, inf, -inf, 0.5f};
  std::vector<float> v(1029);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = pattern[i % pattern.size()];
  const std::vector<T> h = make<T>(v);
  for (int offset : {0, 1}) {
    Dev<T> a(h, offset), out(poisoned<T>(static_cast<std::int64_t>(h.size())), offset);
    kernels::relu(a.ptr, out.ptr, a.n, cuda::current_stream());
    std::vector<T> ref(h.size());
    kernels::relu_ref(h.data(), ref.data(), a.n);
    const std::vector<float> got = out.get();
    EXPECT_TRUE(test::all_equal(got, floats(ref))) << "offset " << offset;
    EXPECT_TRUE(std::isnan(got[0]) && std::isnan(got[1022]));  // the first and the last NaN (1022 = 146 * 7)
    EXPECT_EQ(got[4], inf);
    EXPECT_EQ(got[5], 0.0f);
  }
}

TEST(ReluGpu, NaNPassesThroughF32) {
  TILENET_REQUIRE_GPU();
  check_relu_specials<float>();
}
TEST(ReluGpu, NaNPassesThroughF16) {
  TILENET_REQUIRE_GPU();
  check_relu_specials<half>();
}

TEST(CastGpu, F32ToF16AndBackMatchReference) {
  TILENET_REQUIRE_GPU();
  for (std::int64_t n : {1, 7, 1025, (1 << 20) + 3}) {
    for (int offset : {0, 1}) {
      SCOPED_TRACE(testing::Message() << "n=" << n << " offset=" << offset);
      auto f = test::random_uniform(n, -70000, 70000, test::kSeed + n);  // includes overflow to inf
      f[0] = 1e-7f;  // a subnormal half
      Dev<float> x(f, offset);
      Dev<half> h(poisoned<half>(n), offset);
      kernels::cast(x.ptr, h.ptr, n, cuda::current_stream());
      std::vector<half> href(n);
      kernels::cast_ref(f.data(), href.data(), n);
      EXPECT_TRUE(test::all_equal(h.get(), floats(href)));
      Dev<float> back(poisoned<float>(n), offset);
      kernels::cast(h.ptr, back.ptr, n, cuda::current_stream());
      EXPECT_TRUE(test::all_equal(back.get(), floats(href)));
    }
  }
}

TEST(RngGpu, UniformBitIdenticalToCpu) {
  TILENET_REQUIRE_GPU();
  for (std::int64_t n : {1, 5, 1023, (1 << 20) + 3}) {
    for (std::uint64_t offset : {0ull, 3ull, 1000001ull}) {
      Dev<float> y(poisoned<float>(n), 0);
      kernels::rng_uniform(y.ptr, n, -2, 5, 77, offset, cuda::current_stream());
      std::vector<float> ref(n);
      kernels::rng_uniform_ref(ref.data(), n, -2, 5, 77, offset);
      EXPECT_TRUE(test::all_equal(y.get(), ref)) << "n=" << n << " offset=" << offset;
    }
  }
}

TEST(RngGpu, NormalMatchesCpuWithinOneUlp) {
  TILENET_REQUIRE_GPU();
  const std::int64_t n = test::small_mode() ? 4099 : (1 << 20) + 3;
  Dev<float> y(poisoned<float>(n), 0);
  kernels::rng_normal(y.ptr, n, 0.5f, 2.0f, 5, 11, cuda::current_stream());
  std::vector<float> ref(n);
  kernels::rng_normal_ref(ref.data(), n, 0.5f, 2.0f, 5, 11);
  EXPECT_TRUE(test::all_close(y.get(), ref, 1e-6, 1e-6));
}

TEST(TensorGpu, DeviceRoundTripOpsAndViews) {
  TILENET_REQUIRE_GPU();
  const auto v = test::random_uniform(3 * 1001, -2, 2, test::kSeed);
  Tensor c = Tensor::from_vector(v, {3, 1001}, Device::cuda());
  EXPECT_TRUE(c.is_cuda());
  EXPECT_TRUE(test::all_equal(c.to_vector(), v));
  Tensor r = relu(c.slice(1, 3));  // misaligned view start
  Tensor rc = relu(Tensor::from_vector(v, {3, 1001}).slice(1, 3));
  EXPECT_TRUE(test::all_equal(r.to_vector(), rc.to_vector()));
  EXPECT_TRUE(test::all_equal(c.to(DType::f16).to_vector(), test::round_to_half(v)));
  Tensor cpu = Tensor::zeros({3, 1001});
  EXPECT_THROW(add(c, cpu), DeviceError);
  EXPECT_TRUE(test::all_equal(Tensor::uniform({999}, 0, 1, 3, Device::cuda()).to_vector(),
                              Tensor::uniform({999}, 0, 1, 3).to_vector()));
}

TEST(MemoryGpu, CachingAllocatorReusesAndCounts) {
  TILENET_REQUIRE_GPU();
  memory::empty_cache(0);
  const MemoryStats before = memory::stats(0);
  {
    Tensor a = Tensor::empty({1 << 20}, DType::f32, Device::cuda());
    const MemoryStats mid = memory::stats(0);
    EXPECT_GE(mid.bytes_in_use - before.bytes_in_use, 4u << 20);
    EXPECT_GE(mid.peak_bytes_in_use, mid.bytes_in_use);
  }
  const MemoryStats freed = memory::stats(0);
  EXPECT_EQ(freed.bytes_in_use, before.bytes_in_use);
  const auto mallocs = freed.cuda_mallocs;
  for (int i = 0; i < 10; ++i) Tensor b = Tensor::empty({1 << 20}, DType::f32, Device::cuda());
  EXPECT_EQ(memory::stats(0).cuda_mallocs, mallocs) << "a steady loop must not call cudaMalloc";
}

TEST(MemoryGpu, ThreadAllocationsCountOnlyTheCallingThread) {
  TILENET_REQUIRE_GPU();
  const std::uint64_t mine = memory::thread_allocations(), mine_freed = memory::thread_deallocations();
  const std::uint64_t all = memory::stats(0).allocations;
  std::thread other([] {
    const std::uint64_t start = memory::thread_allocations(), freed = memory::thread_deallocations();
    for (int i = 0; i < 3; ++i) Tensor t = Tensor::empty({1000 + i}, DType::f32, Device::cuda());
    EXPECT_EQ(memory::thread_allocations() - start, 3u);
    EXPECT_EQ(memory::thread_deallocations() - freed, 3u);
  });
  other.join();
  EXPECT_EQ(memory::thread_allocations(), mine) << "another thread's allocations were counted here";
  EXPECT_EQ(memory::thread_deallocations(), mine_freed) << "another thread's frees were counted here";
  EXPECT_EQ(memory::stats(0).allocations - all, 3u);
  { Tensor t = Tensor::empty({7}, DType::f32, Device::cuda()); }
  EXPECT_EQ(memory::thread_allocations() - mine, 1u);
  EXPECT_EQ(memory::thread_deallocations() - mine_freed, 1u);
  { Tensor empty = Tensor::empty({0}, DType::f32, Device::cuda()); }  // no block, nothing counted
  EXPECT_EQ(memory::thread_deallocations() - mine_freed, 1u);
}

TEST(MemoryGpu, OutOfMemoryIsTypedAndProcessStaysUsable) {
  TILENET_REQUIRE_GPU();
  const MemoryStats before = memory::stats(0);
  try {
    Tensor::empty({std::int64_t(1) << 45}, DType::f32, Device::cuda());  // 128 TiB
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("tried to allocate"), std::string::npos) << m;
    EXPECT_NE(m.find("free"), std::string::npos) << m;
    EXPECT_GT(e.requested_bytes(), 0u);
  }
  EXPECT_EQ(memory::stats(0).bytes_in_use, before.bytes_in_use);
  Tensor ok = Tensor::full({1000}, 2.0f, DType::f32, Device::cuda());
  EXPECT_EQ(sum(ok).item(), 2000.0f);
}

TEST(StreamGpu, GuardSwitchesAndRestores) {
  TILENET_REQUIRE_GPU();
  cudaStream_t def = cuda::current_stream();
  cudaStream_t mine;
  TILENET_CUDA_CHECK(cudaStreamCreate(&mine));
  {
    cuda::StreamGuard g(mine);
    EXPECT_EQ(cuda::current_stream(), mine);
    Tensor t = Tensor::full({100}, 1.0f, DType::f32, Device::cuda());
    EXPECT_EQ(sum(t).item(), 100.0f);
  }
  EXPECT_EQ(cuda::current_stream(), def);
  TILENET_CUDA_CHECK(cudaStreamDestroy(mine));
}

}  // namespace
