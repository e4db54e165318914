// nn/'s training-loop kernels on CUDA against their CPU references: batch gathers, probability
// losses, metric accumulation, dropout at a device-side step. Skips without a GPU (label gpu).
#include <gtest/gtest.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/dropout.h"
#include "kernels/train_ops.h"
#include "nn/dataset.h"
#include "tensor/stream.h"
#include "test_util.h"

namespace tilenet::nn {
namespace {

using test::kSeed;

TEST(NnGpuKernels, GatherRowsMatchesReference) {
  TILENET_REQUIRE_GPU();
  for (std::int64_t cols : {1, 7, 784}) {
    SCOPED_TRACE(cols);
    const std::int64_t rows = 333;
    const Tensor src = Tensor::from_vector(test::random_uniform(rows * cols, -1, 1, kSeed), {rows, cols});
    const std::vector<std::int32_t> perm = Dataset::permutation(rows, kSeed, 1);
    const Tensor idx = Tensor::from_ints(perm, {rows});
    Tensor ref = Tensor::empty({rows, cols});
    kernels::gather_rows_ref(src.data<float>(), idx.data<std::int32_t>(), ref.data<float>(), rows, cols);
    const Tensor dsrc = src.cuda(), didx = idx.cuda();
    Tensor out = Tensor::full({rows, cols}, NAN, DType::f32, Device::cuda());
    kernels::gather_rows(dsrc.data<float>(), didx.data<std::int32_t>(), out.data<float>(), rows, cols,
                         cuda::current_stream());
    EXPECT_TRUE(test::all_equal(out.to_vector(), ref.to_vector()));
    Tensor half_out = Tensor::full({rows, cols}, NAN, DType::f16, Device::cuda());
    kernels::gather_rows(dsrc.data<float>(), didx.data<std::int32_t>(), half_out.data<half>(), rows, cols,
                         cuda::current_stream());
    EXPECT_TRUE(test::all_equal(half_out.to_vector(), test::round_to_half(ref.to_vector())));
  }
}

// kind 0: cross-entropy with labels, 1: with dense targets, 2: MSE. `scaled`: the gradient scale
// also multiplies by a loss scale read from device memory (the mixed-precision path). f16
// predictions and gradients: both sides form the same float, then round it once.
template <typename T>
void check_probability_losses(int kind, bool scaled) {
  const DType dt = std::is_same_v<T, half> ? DType::f16 : DType::f32;
  const std::int64_t rows = 77, cols = 37;
  std::vector<float> pv = test::random_uniform(rows * cols, 1e-9f, 1.0f, kSeed);
  pv[3] = NAN;  // row 0: every q is NaN, and so must be the loss (a clip must not hide it)
  // Row 1: its label's (7) q = 1 / (1 + 1.05e-7) lies between 1 - 1e-7 rounded to float and in
  // double: both sides must clip it alike (Keras's float epsilon arithmetic).
  for (std::int64_t c = 0; c < cols; ++c) pv[cols + c] = c == 7 ? 1.0f : 1.05e-7f / (cols - 1);
  const Tensor p = Tensor::from_vector(pv, {rows, cols}).to(dt);
  const Tensor t = Tensor::from_vector(test::random_uniform(rows * cols, 0.0f, 1.0f, kSeed + 1), {rows, cols});
  std::vector<std::int32_t> lab(rows);
  for (std::int64_t i = 0; i < rows; ++i) lab[i] = static_cast<std::int32_t>((i * 7) % cols);
  const Tensor labels = Tensor::from_ints(lab, {rows});
  Tensor l_ref = Tensor::empty({rows}), d_ref = Tensor::empty({rows, cols}, dt);
  // Poisoned with a finite value: the NaN row must be written by the kernel, not left over.
  Tensor l_gpu = Tensor::full({rows}, -1.0f, DType::f32, Device::cuda());
  Tensor d_gpu = Tensor::full({rows, cols}, -1.0f, dt, Device::cuda());
  const Tensor pd = p.cuda(), td = t.cuda(), ld = labels.cuda();
  // 8, not a training-size 1024: dense-target gradients reach 3e6 / 64 here (q just above eps),
  // which a scale of 1024 would push past the f16 range on both sides.
  const float loss_scale = 8.0f;
  const Tensor scale_d = Tensor::from_vector({loss_scale}, {1}).cuda();
  kernels::ProbLossArgs a;
  a.rows = rows;
  a.cols = cols;
  a.grad_scale = 0.25f;
  kernels::ProbLossArgs g = a;
  if (scaled) {
    a.grad_scale_device = &loss_scale;
    g.grad_scale_device = scale_d.data<float>();
  }
  if (kind == 0) {
    a.labels = labels.data<std::int32_t>();
    g.labels = ld.data<std::int32_t>();
  } else {
    a.targets = t.data<float>();
    g.targets = td.data<float>();
  }
  a.losses = l_ref.data<float>();
  g.losses = l_gpu.data<float>();
  if (kind < 2) {
    kernels::crossentropy_probs_ref(a, p.data<T>(), d_ref.data<T>());
    kernels::crossentropy_probs(g, pd.data<T>(), d_gpu.data<T>(), cuda::current_stream());
  } else {
    kernels::mse_loss_ref(a, p.data<T>(), d_ref.data<T>());
    kernels::mse_loss(g, pd.data<T>(), d_gpu.data<T>(), cuda::current_stream());
  }
  const std::vector<float> dr = d_ref.to_vector();
  EXPECT_GT(test::l2_norm(std::vector<float>(dr.begin() + 2 * cols, dr.end())), 0.0);  // past the NaN row
  const std::vector<float> lg = l_gpu.to_vector();
  EXPECT_TRUE(std::isnan(lg[0]));
  EXPECT_TRUE(test::all_close(lg, l_ref.to_vector(), 1e-5, 1e-5));
  const double s = scaled ? loss_scale : 1.0;  // gradients grow with the loss scale
  const double rtol = dt == DType::f16 ? 2e-3 : 1e-4;  // f16: a float near a rounding tie may go either way
  EXPECT_TRUE(test::all_close(d_gpu.to_vector(), dr, 1e-5 * s, rtol));
}

TEST(NnGpuKernels, ProbabilityLossesMatchReference) {
  TILENET_REQUIRE_GPU();
  for (int kind = 0; kind < 3; ++kind)
    for (bool scaled : {false, true}) {
      SCOPED_TRACE(testing::Message() << "kind " << kind << (scaled ? ", device loss scale" : ""));
      check_probability_losses<float>(kind, scaled);
      check_probability_losses<half>(kind, scaled);
    }
}

// A label outside [0, cols) makes its row's loss and gradient NaN on the GPU (the reference refuses
// such labels up front); the other rows are what the reference gives with any valid label there.
TEST(NnGpuKernels, ProbabilityCrossEntropyBadLabelPoisonsItsRow) {
  TILENET_REQUIRE_GPU();
  const std::int64_t rows = 9, cols = 11;
  const Tensor p = Tensor::from_vector(test::random_uniform(rows * cols, 0.01f, 1.0f, kSeed), {rows, cols});
  std::vector<std::int32_t> lab(rows);
  for (std::int64_t i = 0; i < rows; ++i) lab[i] = static_cast<std::int32_t>((i * 5) % cols);
  const Tensor good = Tensor::from_ints(lab, {rows});
  lab[4] = static_cast<std::int32_t>(cols);
  lab[7] = -1;
  const Tensor bad_d = Tensor::from_ints(lab, {rows}).cuda(), pd = p.cuda();
  Tensor l_ref = Tensor::empty({rows}), d_ref = Tensor::empty({rows, cols});
  Tensor l_gpu = Tensor::full({rows}, -1.0f, DType::f32, Device::cuda());
  Tensor d_gpu = Tensor::full({rows, cols}, -1.0f, DType::f32, Device::cuda());
  kernels::ProbLossArgs a;
  a.rows = rows;
  a.cols = cols;
  a.grad_scale = 0.5f;
  kernels::ProbLossArgs g = a;
  a.labels = good.data<std::int32_t>();
  a.losses = l_ref.data<float>();
  g.labels = bad_d.data<std::int32_t>();
  g.losses = l_gpu.data<float>();
  kernels::crossentropy_probs_ref(a, p.data<float>(), d_ref.data<float>());
  kernels::crossentropy_probs(g, pd.data<float>(), d_gpu.data<float>(), cuda::current_stream());
  const std::vector<float> lg = l_gpu.to_vector(), lr = l_ref.to_vector();
  const std::vector<float> dg = d_gpu.to_vector(), dr = d_ref.to_vector();
  for (std::int64_t i = 0; i < rows; ++i) {
    SCOPED_TRACE(i);
    const bool poisoned = i == 4 || i == 7;
    EXPECT_EQ(std::isnan(lg[i]), poisoned);
    if (!poisoned) EXPECT_NEAR(lg[i], lr[i], 1e-5 * (1 + std::fabs(lr[i])));
    for (std::int64_t c = 0; c < cols; ++c) {
      if (poisoned)
        EXPECT_TRUE(std::isnan(dg[i * cols + c])) << "column " << c;
      else
        EXPECT_NEAR(dg[i * cols + c], dr[i * cols + c], 1e-5 * (1 + std::fabs(dr[i * cols + c]))) << "column " << c;
    }
  }
}

// The rows' classes come from labels, or (dense) from the argmax of a target row with ties; f16
// predictions hold the same small integers (and NaN) exactly.
template <typename T>
void check_metric_accumulation(std::int64_t cols, bool dense) {
  const DType dt = std::is_same_v<T, half> ? DType::f16 : DType::f32;
  const std::int64_t rows = 130;
  std::vector<float> pv = test::random_ints(rows * cols, -3, 3, kSeed);  // many ties on purpose
  pv[5 * cols] = NAN;
  const Tensor p = Tensor::from_vector(pv, {rows, cols}).to(dt);
  std::vector<std::int32_t> lab(rows);
  for (std::int64_t i = 0; i < rows; ++i) lab[i] = static_cast<std::int32_t>((i * 13) % cols);
  const Tensor labels = Tensor::from_ints(lab, {rows});
  const Tensor targets = Tensor::from_vector(test::random_ints(rows * cols, -2, 2, kSeed + 3), {rows, cols});
  const Tensor losses = Tensor::from_vector(test::random_uniform(rows, 0, 2, kSeed + 2), {rows});
  kernels::MetricArgs a;
  a.rows = rows;
  a.cols = cols;
  a.num_metrics = cols == 1 ? 1 : 3;
  a.k[0] = 1;
  a.k[1] = 3;
  a.k[2] = 5;
  a.binary_threshold = 0.0f;
  kernels::MetricArgs g = a;
  a.losses = losses.data<float>();
  const Tensor pd = p.cuda(), ld = labels.cuda(), lsd = losses.cuda(), tgd = targets.cuda();
  g.losses = lsd.data<float>();
  if (dense) {
    a.targets = targets.data<float>();
    g.targets = tgd.data<float>();
  } else {
    a.labels = labels.data<std::int32_t>();
    g.labels = ld.data<std::int32_t>();
  }
  std::vector<double> ref(6, 1.0);
  kernels::accumulate_metrics_ref(a, p.data<T>(), ref.data());
  // Six doubles of 1.0. Every copy goes on tilenet's current stream: it is a non-blocking stream,
  // so a plain cudaMemcpy (legacy default stream) would not be ordered with the kernel.
  const cudaStream_t s = cuda::current_stream();
  Tensor acc = Tensor::empty({12}, DType::f32, Device::cuda());
  const std::vector<double> ones(6, 1.0);
  TILENET_CUDA_CHECK(cudaMemcpyAsync(acc.raw_data(), ones.data(), 48, cudaMemcpyHostToDevice, s));
  kernels::accumulate_metrics(g, pd.data<T>(), static_cast<double*>(acc.raw_data()), s);
  std::vector<double> got(6);
  TILENET_CUDA_CHECK(cudaMemcpyAsync(got.data(), acc.raw_data(), 48, cudaMemcpyDeviceToHost, s));
  TILENET_CUDA_CHECK(cudaStreamSynchronize(s));
  EXPECT_NEAR(got[0], ref[0], 1e-9);
  for (int j = 1; j < 6; ++j) EXPECT_EQ(got[j], ref[j]) << "slot " << j;
  double counted = 0.0;  // some rows counted correct by some metric: the counts are not all trivially zero
  for (int j = 0; j < a.num_metrics; ++j) counted += ref[2 + j] - 1.0;
  EXPECT_GT(counted, 0.0);
}

TEST(NnGpuKernels, MetricAccumulationMatchesReference) {
  TILENET_REQUIRE_GPU();
  for (std::int64_t cols : {1, 10, 1000})
    for (bool dense : {false, true}) {
      SCOPED_TRACE(testing::Message() << cols << " columns" << (dense ? ", dense targets" : ", labels"));
      check_metric_accumulation<float>(cols, dense);
      check_metric_accumulation<half>(cols, dense);
    }
}

TEST(NnGpuKernels, DropoutAtDeviceStepMatchesReference) {
  TILENET_REQUIRE_GPU();
  const std::int64_t n = 1003;
  const Tensor x = Tensor::from_vector(test::random_uniform(n, -1, 1, kSeed), {n});
  for (std::uint64_t step : {0ull, 1ull, 77ull}) {
    SCOPED_TRACE(step);
    Tensor ref = Tensor::empty({n});
    kernels::dropout_ref(x.data<float>(), ref.data<float>(), n, 0.3f, 1234, step << 32);
    Tensor counter = Tensor::zeros({2}, DType::i32, Device::cuda());
    auto* c = static_cast<std::uint64_t*>(counter.raw_data());
    kernels::set_step_counter(c, step, cuda::current_stream());
    const Tensor xd = x.cuda();
    Tensor y = Tensor::full({n}, NAN, DType::f32, Device::cuda());
    kernels::dropout_at_step(xd.data<float>(), y.data<float>(), n, 0.3f, 1234, c, cuda::current_stream());
    EXPECT_TRUE(test::all_equal(y.to_vector(), ref.to_vector()));
    kernels::advance_step_counter(c, cuda::current_stream());
    const std::vector<std::int32_t> words = counter.to_ints();
    EXPECT_EQ(static_cast<std::uint64_t>(static_cast<std::uint32_t>(words[0])), step + 1);
  }
}

}  // namespace
}  // namespace tilenet::nn
