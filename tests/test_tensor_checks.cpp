// CPU checks on tensor/: shapes and sizes that overflow are typed errors (never a tiny allocation),
// overlapping views copy as if through a temporary, i32 fills reject values outside int32, dtype
// errors name the op, and a stream override still validates the device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "tensor/memory.h"
#include "tensor/ops.h"
#include "tensor/stream.h"
#include "tensor/tensor.h"
#include "test_util.h"

using namespace tilenet;

namespace {

constexpr std::int64_t kHuge = std::int64_t(1) << 40;

// 0, 1, 2, ... as f32 of `shape`.
Tensor iota(const Shape& shape) {
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, shape);
}

}  // namespace

TEST(ShapeLimits, ElementCountOverflowIsAShapeErrorNamingTheShape) {
  EXPECT_TRUE(test::throws_with<ShapeError>([] { Shape s{kHuge, kHuge}; },
                                            {"(1099511627776, 1099511627776)", "overflows int64"}));
  EXPECT_TRUE(test::throws_with<ShapeError>([] { Tensor::empty({kHuge, kHuge}); }, {"(1099511627776, 1099511627776)"}));
  EXPECT_THROW(Tensor::zeros({kHuge, kHuge}, DType::f16), ShapeError);
  // The largest product that fits int64 is accepted by Shape (allocating it is another matter).
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ((Shape{max}.numel()), max);
  EXPECT_THROW((Shape{max, 2}), ShapeError);
  // A zero extent makes the product 0 whatever the others are.
  EXPECT_EQ((Shape{kHuge, kHuge, 0}.numel()), 0);
  EXPECT_THROW((Shape{kHuge, kHuge, 0}.rows()), ShapeError);  // 2^80 rows of nothing still do not fit
  Tensor e = Tensor::empty({kHuge, kHuge, 0});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.nbytes(), 0u);
  // A mutable extent that makes the product overflow is caught when the product is next taken.
  Shape s{kHuge, 1};
  s.at(1) = kHuge;
  EXPECT_THROW(s.numel(), ShapeError);
}

TEST(ShapeLimits, ByteCountOverflowIsAShapeError) {
  // 2^62 elements fit int64, but 2^62 * 4 bytes do not fit size_t.
  EXPECT_TRUE(test::throws_with<ShapeError>(
      [] { Tensor::empty({std::int64_t(1) << 31, std::int64_t(1) << 31}); },
      {"Tensor::empty", "(2147483648, 2147483648)", "f32", "size_t"}));
  EXPECT_THROW(Tensor::empty({std::int64_t(1) << 62}, DType::i32), ShapeError);
}

TEST(ShapeLimits, AllocationsThatCannotBeServedAreOutOfMemory) {
  // 2^63 bytes of f16: the size is representable, the host cannot provide it.
  EXPECT_THROW(Tensor::empty({std::int64_t(1) << 62}, DType::f16), OutOfMemoryError);
  // Rounding up to the alignment would wrap around size_t: refused, not a tiny block.
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  for (std::size_t bytes : {max, max - 10, max - 63}) {
    SCOPED_TRACE(bytes);
    try {
      void* p = memory::host_allocate(bytes);
      memory::host_deallocate(p);
      FAIL() << "expected OutOfMemoryError";
    } catch (const OutOfMemoryError& e) {
      EXPECT_EQ(e.requested_bytes(), bytes);
    }
  }
  // The CUDA caching allocator refuses sizes it cannot round before it calls the driver, so this
  // also holds without a GPU.
  for (std::size_t bytes : {max, max - (std::size_t(128) << 10) + 1}) {
    SCOPED_TRACE(bytes);
    EXPECT_TRUE(test::throws_with<OutOfMemoryError>([&] { memory::cuda_allocate(bytes, 0, nullptr); },
                                                    {"out of memory on cuda:0", "cannot allocate"}));
    EXPECT_THROW(DeviceBuffer(bytes, 0, nullptr), OutOfMemoryError);
  }
}

TEST(ShapeLimits, ReshapeWithAnOverflowingProductIsAShapeError) {
  Tensor t = Tensor::zeros({4});
  EXPECT_TRUE(test::throws_with<ShapeError>([&] { t.reshape({kHuge, kHuge, -1}); }, {"Tensor::reshape", "overflows"}));
  EXPECT_THROW(t.reshape({kHuge, kHuge}), ShapeError);
  Tensor z = Tensor::zeros({0, 3});
  EXPECT_EQ(z.reshape({kHuge, kHuge, 0}).shape(), (Shape{kHuge, kHuge, 0}));
  EXPECT_THROW(z.reshape({kHuge, 0, -1}), ShapeError);  // -1 cannot be inferred from a zero product
}

TEST(TensorCopy, OverlappingViewsCopyAsIfThroughATemporary) {
  const std::int64_t n = 7, c = 3;
  const std::vector<float> v = iota({n, c}).to_vector();
  // Shift down: row i takes row i + 1.
  Tensor t = iota({n, c});
  t.slice(0, n - 1).copy_from(t.slice(1, n));
  std::vector<float> want = v;
  for (std::int64_t i = 0; i + 1 < n; ++i)
    for (std::int64_t j = 0; j < c; ++j) want[i * c + j] = v[(i + 1) * c + j];
  EXPECT_TRUE(test::all_equal(t.to_vector(), want));
  // Shift up: row i + 1 takes row i.
  Tensor u = iota({n, c});
  u.slice(1, n).copy_from(u.slice(0, n - 1));
  want = v;
  for (std::int64_t i = 1; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j) want[i * c + j] = v[(i - 1) * c + j];
  EXPECT_TRUE(test::all_equal(u.to_vector(), want));
  // Onto itself: unchanged.
  Tensor w = iota({n, c});
  w.copy_from(w);
  w.slice(2, 5).copy_from(w.slice(2, 5));
  EXPECT_TRUE(test::all_equal(w.to_vector(), v));
}

TEST(TensorFill, I32ValuesOutsideInt32AreRejected) {
  EXPECT_EQ(Tensor::full({3}, -7.0f, DType::i32).to_ints(), (std::vector<std::int32_t>{-7, -7, -7}));
  EXPECT_EQ(Tensor::zeros({2}, DType::i32).to_ints(), (std::vector<std::int32_t>{0, 0}));
  EXPECT_EQ(Tensor::full({1}, -2147483648.0f, DType::i32).to_ints()[0], std::numeric_limits<std::int32_t>::min());
  for (float bad : {2147483648.0f, -2147483904.0f, 1e20f, std::nanf(""), INFINITY}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(test::throws_with<ValueError>([&] { Tensor::full({3}, bad, DType::i32); }, {"Tensor::full", "i32"}));
  }
}

TEST(OpDtypeErrors, NameTheOp) {
  Tensor i = Tensor::zeros({4}, DType::i32);
  EXPECT_TRUE(test::throws_with<DtypeError>([&] { fill_(i, 1.0f); }, {"fill_:", "i32"}));
  EXPECT_TRUE(test::throws_with<DtypeError>([&] { scale_(i, 2.0f); }, {"scale_:", "i32"}));
  EXPECT_TRUE(test::throws_with<DtypeError>([&] { sum(i); }, {"sum:", "i32"}));
  EXPECT_TRUE(test::throws_with<DtypeError>([&] { max_lastdim(i); }, {"max_lastdim:", "i32"}));
  EXPECT_TRUE(test::throws_with<DtypeError>([&] { relu(i); }, {"relu:", "i32"}));
  EXPECT_TRUE(test::throws_with<DtypeError>([&] { add(i, i); }, {"i32"}));
}

TEST(StreamOverride, StillValidatesTheDevice) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; this checks the no-GPU errors";
  // An override no longer bypasses the device check: without a GPU, asking for a stream is a
  // DeviceError whether or not one was set.
  {
    cuda::StreamGuard g(cudaStreamPerThread, 0);
    EXPECT_TRUE(test::throws_with<DeviceError>([] { cuda::current_stream(0); }, {"cuda::current_stream"}));
  }
  EXPECT_THROW(cuda::current_stream(0), DeviceError);
  // A user stream for a device that does not exist is refused when it is set.
  auto* fake = reinterpret_cast<cudaStream_t>(std::uintptr_t(0x1000));
  EXPECT_TRUE(test::throws_with<DeviceError>([&] { cuda::StreamGuard g(fake, 0); }, {"cuda::StreamGuard", "cuda:0"}));
  EXPECT_THROW(cuda::set_current_stream(fake, 0), DeviceError);
  EXPECT_THROW({ cuda::StreamGuard bad(fake, -1); }, DeviceError);
  cuda::set_current_stream(nullptr, 0);  // restoring the default is always allowed
}
