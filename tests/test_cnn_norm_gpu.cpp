// GPU: batch norm and dropout kernels against their CPU references (poisoned outputs, odd channel
// counts, offsets that defeat a naive variance), bitwise CPU == GPU dropout masks, run-to-run
// determinism, and the Tensor ops dispatching CUDA tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cnn_gpu_util.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/lrn.h"
#include "tensor/normalization.h"
#include "tensor/pool.h"
#include "tensor/softmax.h"

using namespace tilenet;
using namespace tilenet::kernels;
using test::DevArray;

namespace {

template <typename T>
void check_batchnorm(std::int64_t rows, std::int64_t c, float offset, int misalign) {
  SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(c) + (std::is_same_v<T, half> ? " f16" : " f32"));
  const std::int64_t n = rows * c;
  std::vector<float> xf = test::random_uniform(n, -1.5f, 2.5f, test::kSeed);
  for (std::int64_t i = 0; i < n; ++i) xf[i] = xf[i] * (1 + i % c % 5) + offset * (i % c % 3);  // per-channel scale/offset
  const std::vector<T> x = test::from_floats<T>(xf);
  const std::vector<T> dy = test::from_floats<T>(test::random_uniform(n, -1, 1, test::kSeed + 1));
  const std::vector<float> gamma = test::random_uniform(c, 0.5f, 1.5f, test::kSeed + 2);
  const std::vector<float> beta = test::random_uniform(c, -1, 1, test::kSeed + 3);
  const std::vector<float> rm0 = test::random_uniform(c, -1, 1, test::kSeed + 4);
  const std::vector<float> rv0 = test::random_uniform(c, 0.5f, 2, test::kSeed + 5);
  const float momentum = 0.9f, eps = 1e-3f;
  const bool h = std::is_same_v<T, half>;
  const double rtol = h ? 2e-3 : 1e-4, atol = h ? 4e-3 : 1e-4;

  // Reference.
  std::vector<float> rm = rm0, rv = rv0, sm(c), si(c), dg(c, 0.25f), db(c, 0.5f);
  std::vector<T> y(n), dx(n), yi(n);
  batchnorm_forward_train_ref(x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), y.data(), sm.data(),
                              si.data(), rows, c, momentum, eps);
  batchnorm_backward_ref(dy.data(), x.data(), gamma.data(), sm.data(), si.data(), dx.data(), dg.data(), db.data(),
                         rows, c, true);
  batchnorm_forward_infer_ref(x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), yi.data(), rows, c, eps);
  if (rows > 1) ASSERT_GT(test::l2_norm(test::floats(dx)), 0.0);  // one row: dx is exactly 0

  // Device.
  cudaStream_t s = cuda::current_stream();
  DevArray<T> d_x(x, misalign), d_dy(dy, misalign), d_y(n, misalign), d_dx(n, misalign), d_yi(n, misalign);
  DevArray<float> d_g(gamma), d_b(beta), d_rm(rm0), d_rv(rv0), d_sm(c), d_si(c);
  DevArray<float> d_dg(std::vector<float>(c, 0.25f)), d_db(std::vector<float>(c, 0.5f));
  DevArray<char> ws(static_cast<std::int64_t>(batchnorm_workspace_bytes(rows, c)) + 1);
  batchnorm_forward_train(d_x.get(), d_g.get(), d_b.get(), d_rm.get(), d_rv.get(), d_y.get(), d_sm.get(), d_si.get(),
                          rows, c, momentum, eps, ws.get(), s);
  batchnorm_backward(d_dy.get(), d_x.get(), d_g.get(), d_sm.get(), d_si.get(), d_dx.get(), d_dg.get(), d_db.get(), rows,
                     c, true, ws.get(), s);
  batchnorm_forward_infer(d_x.get(), d_g.get(), d_b.get(), d_rm.get(), d_rv.get(), d_yi.get(), rows, c, eps, s);

  EXPECT_TRUE(test::all_close(d_sm.host(), sm, 1e-5 * (1 + offset), 1e-5)) << "save_mean";
  EXPECT_TRUE(test::all_close(d_si.host(), si, 0, 1e-4)) << "save_invstd";
  EXPECT_TRUE(test::all_close(d_rm.host(), rm, 1e-5 * (1 + offset), 1e-5)) << "running_mean";
  EXPECT_TRUE(test::all_close(d_rv.host(), rv, 1e-5, 1e-4)) << "running_var";
  EXPECT_TRUE(test::all_close(d_y.host_floats(), test::floats(y), atol, rtol)) << "y";
  EXPECT_TRUE(test::all_close(d_yi.host_floats(), test::floats(yi), atol, rtol)) << "y (inference)";
  EXPECT_TRUE(test::all_close(d_dx.host_floats(), test::floats(dx), atol, rtol)) << "dx";
  const double sum_tol = 1e-5 * static_cast<double>(rows) + (h ? 1e-3 * std::sqrt(static_cast<double>(rows)) : 0);
  EXPECT_TRUE(test::all_close(d_dg.host(), dg, sum_tol, 1e-4)) << "dgamma";
  EXPECT_TRUE(test::all_close(d_db.host(), db, sum_tol, 1e-4)) << "dbeta";

  // Deterministic: a second run gives the same bits.
  const std::vector<float> y1 = d_y.host_floats(), dx1 = d_dx.host_floats(), dg1 = d_dg.host();
  batchnorm_forward_train(d_x.get(), d_g.get(), d_b.get(), d_rm.get(), d_rv.get(), d_y.get(), d_sm.get(), d_si.get(),
                          rows, c, momentum, eps, ws.get(), s);
  batchnorm_backward(d_dy.get(), d_x.get(), d_g.get(), d_sm.get(), d_si.get(), d_dx.get(), d_dg.get(), d_db.get(), rows,
                     c, false, ws.get(), s);
  EXPECT_TRUE(test::all_equal(d_y.host_floats(), y1));
  EXPECT_TRUE(test::all_equal(d_dx.host_floats(), dx1));
}

}  // namespace

TEST(BatchNormGpu, MatchesReference) {
  TILENET_REQUIRE_GPU();
  SCOPED_TRACE(test::kSeed);
  struct Case {
    std::int64_t rows, c;
    bool big;
  };
  // 20000 x 33: scalar channels, a ragged second channel group and many row splits.
  const Case cases[] = {{1, 1, false},        {169, 1, false},        {2 * 27 * 27, 3, false}, {169, 7, false},
                        {4 * 49, 33, false},   {75, 65, false},         {8 * 169, 256, false},   {32 * 196, 64, false},
                        {2, 4096, false},      {100000, 2, false},      {16 * 56 * 56, 256, true},
                        {8 * 27 * 27, 192, true}, {20000, 33, false}};
  for (const Case& k : cases) {
    if (k.big && test::small_mode()) continue;
    check_batchnorm<float>(k.rows, k.c, 0.0f, 0);
    check_batchnorm<half>(k.rows, k.c, 0.0f, 0);
  }
}

TEST(BatchNormGpu, LargeOffsetsAndMisalignment) {
  TILENET_REQUIRE_GPU();
  // Means of 100 and 200 beside unit spreads: Welford keeps the variance.
  check_batchnorm<float>(4096, 24, 100.0f, 0);
  check_batchnorm<float>(333, 16, 0.0f, 1);
  check_batchnorm<half>(500, 40, 0.0f, 3);
}

namespace {

template <typename T>
void check_dropout(std::int64_t n, float rate, std::uint64_t offset, int misalign) {
  SCOPED_TRACE("n=" + std::to_string(n) + " rate=" + std::to_string(rate) + " offset=" + std::to_string(offset) +
               " misalign=" + std::to_string(misalign));
  const std::vector<T> x = test::from_floats<T>(test::random_uniform(n, -3, 3, test::kSeed));
  std::vector<T> ref(n);
  dropout_ref(x.data(), ref.data(), n, rate, 1234, offset);
  DevArray<T> d_x(x, misalign), d_y(n, misalign);
  dropout(d_x.get(), d_y.get(), n, rate, 1234, offset, cuda::current_stream());
  EXPECT_TRUE(test::all_equal(d_y.host_floats(), test::floats(ref)));
  // In place (y aliases x), as the backward may run.
  dropout(d_x.get(), d_x.get(), n, rate, 1234, offset, cuda::current_stream());
  EXPECT_TRUE(test::all_equal(d_x.host_floats(), test::floats(ref)));
}

}  // namespace

TEST(DropoutGpu, MasksAndValuesMatchTheCpuBitwise) {
  TILENET_REQUIRE_GPU();
  const std::int64_t big = test::small_mode() ? 4099 : (1 << 20) + 3;
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{3}, std::int64_t{4}, std::int64_t{5}, std::int64_t{1000}, big})
    for (float rate : {0.0f, 0.1f, 0.5f, 0.9f})
      for (std::uint64_t offset : {0ull, 1ull, 3ull, 4ull, 1001ull}) {
        check_dropout<float>(n, rate, offset, 0);
        check_dropout<half>(n, rate, offset, 0);
      }
  check_dropout<float>(1003, 0.5f, 8, 1);
  check_dropout<half>(1003, 0.5f, 8, 1);
}

TEST(LrnGpu, MatchesReference) {
  TILENET_REQUIRE_GPU();
  for (std::int64_t c : {1, 3, 64, 96, 256})
    for (int size : {5, 4}) {
      SCOPED_TRACE("C=" + std::to_string(c) + " size=" + std::to_string(size));
      const std::int64_t pixels = 2 * 13 * 13, n = pixels * c;
      LrnParams prm;
      prm.size = size, prm.alpha = 0.1f, prm.beta = 0.75f, prm.k = 2.0f;
      auto run = [&](auto* tag, double atol, double rtol) {
        using T = std::remove_pointer_t<decltype(tag)>;
        const std::vector<T> x = test::from_floats<T>(test::random_uniform(n, -3, 3, test::kSeed));
        const std::vector<T> dy = test::from_floats<T>(test::random_uniform(n, -1, 1, test::kSeed + 1));
        std::vector<T> y(n), dx(n);
        lrn_forward_ref(x.data(), y.data(), pixels, c, prm);
        lrn_backward_ref(x.data(), dy.data(), dx.data(), pixels, c, prm);
        DevArray<T> d_x(x), d_dy(dy), d_y(n), d_dx(n);
        lrn_forward(d_x.get(), d_y.get(), pixels, c, prm, cuda::current_stream());
        lrn_backward(d_x.get(), d_dy.get(), d_dx.get(), pixels, c, prm, cuda::current_stream());
        EXPECT_TRUE(test::all_close(d_y.host_floats(), test::floats(y), atol, rtol)) << "forward";
        EXPECT_TRUE(test::all_close(d_dx.host_floats(), test::floats(dx), atol, rtol)) << "backward";
      };
      run(static_cast<float*>(nullptr), 1e-5, 1e-5);
      run(static_cast<half*>(nullptr), 2e-3, 2e-3);
    }
}

TEST(CnnTensorOpsGpu, CudaTensorsMatchCpuTensors) {
  TILENET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  // Pooling.
  Tensor x = Tensor::uniform({2, 13, 13, 8}, -1, 1, 7);
  Pool2dOptions o;
  o.kernel_h = o.kernel_w = 3;
  const Shape ps = pool2d_output_shape(x.shape(), o);
  Tensor y = Tensor::empty(ps), idx = Tensor::empty(ps, DType::i32);
  Tensor gy = Tensor::empty(ps, DType::f32, gpu), gidx = Tensor::empty(ps, DType::i32, gpu);
  Tensor gx = x.to(gpu);
  max_pool2d_forward_into(x, y, idx, o);
  max_pool2d_forward_into(gx, gy, gidx, o);
  EXPECT_TRUE(test::all_equal(gy.to_vector(), y.to_vector()));
  EXPECT_EQ(gidx.to_ints(), idx.to_ints());
  // Softmax cross-entropy.
  Tensor logits = Tensor::uniform({16, 10}, -5, 5, 8), labels = Tensor::from_ints(std::vector<std::int32_t>(16, 3), {16});
  Tensor loss = Tensor::empty({16}), dl = Tensor::empty({16, 10});
  Tensor gloss = Tensor::empty({16}, DType::f32, gpu), gdl = Tensor::empty({16, 10}, DType::f32, gpu);
  Tensor glogits = logits.to(gpu), glabels = labels.to(gpu);
  softmax_cross_entropy_into(logits, labels, loss, dl, 1.0f / 16);
  softmax_cross_entropy_into(glogits, glabels, gloss, gdl, 1.0f / 16);
  EXPECT_TRUE(test::all_close(gloss.to_vector(), loss.to_vector(), 1e-6, 1e-5));
  EXPECT_TRUE(test::all_close(gdl.to_vector(), dl.to_vector(), 1e-7, 1e-5));
  // Batch norm (the Tensor op allocates the workspace) and dropout.
  Tensor bx = Tensor::uniform({4, 5, 5, 6}, -1, 3, 9), g = Tensor::full({6}, 1.0f), b = Tensor::zeros({6});
  Tensor rm = Tensor::zeros({6}), rv = Tensor::full({6}, 1.0f), by = Tensor::empty(bx.shape());
  Tensor sm = Tensor::empty({6}), si = Tensor::empty({6});
  Tensor gbx = bx.to(gpu), gg = g.to(gpu), gb = b.to(gpu), grm = rm.to(gpu), grv = rv.to(gpu);
  Tensor gby = Tensor::empty(bx.shape(), DType::f32, gpu), gsm = Tensor::empty({6}, DType::f32, gpu),
         gsi = Tensor::empty({6}, DType::f32, gpu);
  batchnorm_forward_train_into(bx, g, b, rm, rv, by, sm, si, 0.99f, 1e-3f);
  batchnorm_forward_train_into(gbx, gg, gb, grm, grv, gby, gsm, gsi, 0.99f, 1e-3f);
  EXPECT_TRUE(test::all_close(gby.to_vector(), by.to_vector(), 1e-5, 1e-5));
  Tensor dy = Tensor::empty(bx.shape()), gdy = Tensor::empty(bx.shape(), DType::f32, gpu);
  dropout_forward_into(bx, dy, 0.25f, 5, 77);
  dropout_forward_into(gbx, gdy, 0.25f, 5, 77);
  EXPECT_TRUE(test::all_equal(gdy.to_vector(), dy.to_vector()));
  // Mixed devices are refused.
  EXPECT_THROW(softmax_into(glogits, dl), DeviceError);
}
