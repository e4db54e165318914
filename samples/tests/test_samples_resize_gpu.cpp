// GPU resize against the CPU reference: random images, gathered rows (one out of range), odd and
// AlexNet-sized outputs, poisoned output buffer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "samples/alexnet/resize.h"
#include "tensor/error.h"
#include "tensor/memory.h"
#include "tensor/stream.h"
#include "test_util.h"

using namespace tilenet;
using namespace tilenet::samples;

namespace {

void compare(ResizeShape sh, std::uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "seed " << seed << " in " << sh.h << "x" << sh.w << "x" << sh.c << " out "
                                  << sh.oh << "x" << sh.ow << "x" << sh.oc);
  std::vector<float> x = test::random_uniform(static_cast<std::size_t>(sh.rows) * sh.h * sh.w * sh.c, 0, 1, seed);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::vector<std::int32_t> idx(sh.n);
  for (auto& i : idx) i = static_cast<std::int32_t>(rng() % sh.rows);
  idx.back() = static_cast<std::int32_t>(sh.rows);  // out of range: zeros
  ChannelNorm norm{{0.2f, 0.3f, 0.4f, 0.5f}, {3.0f, 2.0f, 1.5f, 1.0f}};
  std::vector<float> ref(sh.output_size());
  resize_bilinear_ref(sh, x.data(), idx.data(), ref.data(), norm);

  cudaStream_t s = cuda::current_stream();
  DeviceBuffer dx(x.size() * 4, 0, s), di(idx.size() * 4, 0, s), dy(ref.size() * 4, 0, s);
  TILENET_CUDA_CHECK(cudaMemcpyAsync(dx.data(), x.data(), x.size() * 4, cudaMemcpyHostToDevice, s));
  TILENET_CUDA_CHECK(cudaMemcpyAsync(di.data(), idx.data(), idx.size() * 4, cudaMemcpyHostToDevice, s));
  TILENET_CUDA_CHECK(cudaMemsetAsync(dy.data(), 0xff, ref.size() * 4, s));  // NaN poison
  resize_bilinear(sh, dx.as<float>(), di.as<std::int32_t>(), dy.as<float>(), norm, s);
  std::vector<float> got(ref.size());
  TILENET_CUDA_CHECK(cudaMemcpyAsync(got.data(), dy.data(), got.size() * 4, cudaMemcpyDeviceToHost, s));
  cuda::synchronize();
  // The kernel forms the source coordinate in float (scale * (o + 0.5) - 0.5, up to max(h, w)): a
  // few float ulps of it (5e-7 per unit here, about 8 ulps) move an interpolation weight by as much,
  // times a pixel step of at most 1 and the normalisation's largest 1/std (3). 32 -> 227: 5.8e-5
  // against a worst case of about 2e-5; an indexing slip errs by far more.
  const double atol = 5e-7 * 3.0 * std::max(sh.h, sh.w) + 1e-5;
  double norm2 = 0;
  std::int64_t bad = 0, first_bad = -1;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    norm2 += ref[i] * ref[i];
    if (!(std::fabs(got[i] - ref[i]) <= atol + 1e-5 * std::fabs(ref[i]))) {
      if (bad++ == 0) first_bad = static_cast<std::int64_t>(i);
    }
  }
  EXPECT_EQ(bad, 0) << "first at " << first_bad << ": got " << (first_bad >= 0 ? got[first_bad] : 0.0f)
                    << ", expected " << (first_bad >= 0 ? ref[first_bad] : 0.0f) << " (atol " << atol << ")";
  EXPECT_GT(norm2, 0.0);
}

}  // namespace

TEST(SamplesResizeGpu, MatchesReference) {
  TILENET_REQUIRE_GPU();
  compare(ResizeShape{50, 7, 28, 28, 1, 224, 224, 3}, test::kSeed);
  compare(ResizeShape{20, 5, 32, 32, 3, 227, 227, 3}, test::kSeed + 1);
  compare(ResizeShape{9, 3, 17, 13, 2, 31, 7, 2}, test::kSeed + 2);
  compare(ResizeShape{4, 2, 5, 5, 4, 5, 5, 4}, test::kSeed + 3);
  if (!test::small_mode()) compare(ResizeShape{1000, 128, 28, 28, 1, 224, 224, 3}, test::kSeed + 4);
}
