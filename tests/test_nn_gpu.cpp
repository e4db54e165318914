// nn/ on CUDA: the training-loop kernels against their CPU references, one training step on the
// GPU against the same step on the CPU (MLP and small CNN, fp32 and mixed precision), and short
// fits that must learn. Skips without a GPU (ctest label gpu).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/dropout.h"
#include "kernels/train_ops.h"
#include "nn/io/training_state.h"
#include "nn/sequential.h"
#include "nn_test_data.h"
#include "optim/optimizers.h"
#include "tensor/memory.h"
#include "tensor/stream.h"
#include "test_util.h"

namespace tilenet::nn {
namespace {

using test::kSeed;

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// ---------------------------------------------------------------------------------------------
// Kernels against references

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

TEST(NnGpuKernels, ProbabilityLossesMatchReference) {
  TILENET_REQUIRE_GPU();
  const std::int64_t rows = 77, cols = 37;
  const Tensor p = Tensor::from_vector(test::random_uniform(rows * cols, 1e-9f, 1.0f, kSeed), {rows, cols});
  const Tensor t = Tensor::from_vector(test::random_uniform(rows * cols, 0.0f, 1.0f, kSeed + 1), {rows, cols});
  std::vector<std::int32_t> lab(rows);
  for (std::int64_t i = 0; i < rows; ++i) lab[i] = static_cast<std::int32_t>((i * 7) % cols);
  const Tensor labels = Tensor::from_ints(lab, {rows});
  for (int kind = 0; kind < 3; ++kind) {
    SCOPED_TRACE(kind);
    Tensor l_ref = Tensor::empty({rows}), d_ref = Tensor::empty({rows, cols});
    Tensor l_gpu = Tensor::full({rows}, NAN, DType::f32, Device::cuda());
    Tensor d_gpu = Tensor::full({rows, cols}, NAN, DType::f32, Device::cuda());
    const Tensor pd = p.cuda(), td = t.cuda(), ld = labels.cuda();
    kernels::ProbLossArgs a;
    a.rows = rows;
    a.cols = cols;
    a.grad_scale = 0.25f;
    kernels::ProbLossArgs g = a;
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
      kernels::crossentropy_probs_ref(a, p.data<float>(), d_ref.data<float>());
      kernels::crossentropy_probs(g, pd.data<float>(), d_gpu.data<float>(), cuda::current_stream());
    } else {
      kernels::mse_loss_ref(a, p.data<float>(), d_ref.data<float>());
      kernels::mse_loss(g, pd.data<float>(), d_gpu.data<float>(), cuda::current_stream());
    }
    EXPECT_GT(test::l2_norm(d_ref.to_vector()), 0.0);
    EXPECT_TRUE(test::all_close(l_gpu.to_vector(), l_ref.to_vector(), 1e-5, 1e-5));
    EXPECT_TRUE(test::all_close(d_gpu.to_vector(), d_ref.to_vector(), 1e-5, 1e-4));
  }
}

TEST(NnGpuKernels, MetricAccumulationMatchesReference) {
  TILENET_REQUIRE_GPU();
  for (std::int64_t cols : {1, 10, 1000}) {
    SCOPED_TRACE(cols);
    const std::int64_t rows = 130;
    std::vector<float> pv = test::random_ints(rows * cols, -3, 3, kSeed);  // many ties on purpose
    pv[5 * cols] = NAN;
    const Tensor p = Tensor::from_vector(pv, {rows, cols});
    std::vector<std::int32_t> lab(rows);
    for (std::int64_t i = 0; i < rows; ++i) lab[i] = static_cast<std::int32_t>((i * 13) % cols);
    const Tensor labels = Tensor::from_ints(lab, {rows});
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
    a.labels = labels.data<std::int32_t>();
    const Tensor pd = p.cuda(), ld = labels.cuda(), lsd = losses.cuda();
    g.losses = lsd.data<float>();
    g.labels = ld.data<std::int32_t>();
    std::vector<double> ref(6, 1.0);
    kernels::accumulate_metrics_ref(a, p.data<float>(), ref.data());
    // Six doubles of 1.0. Every copy goes on tilenet's current stream: it is a non-blocking stream,
    // so a plain cudaMemcpy (legacy default stream) would not be ordered with the kernel.
    const cudaStream_t s = cuda::current_stream();
    Tensor acc = Tensor::empty({12}, DType::f32, Device::cuda());
    const std::vector<double> ones(6, 1.0);
    TILENET_CUDA_CHECK(cudaMemcpyAsync(acc.raw_data(), ones.data(), 48, cudaMemcpyHostToDevice, s));
    kernels::accumulate_metrics(g, pd.data<float>(), static_cast<double*>(acc.raw_data()), s);
    std::vector<double> got(6);
    TILENET_CUDA_CHECK(cudaMemcpyAsync(got.data(), acc.raw_data(), 48, cudaMemcpyDeviceToHost, s));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(s));
    EXPECT_NEAR(got[0], ref[0], 1e-9);
    for (int j = 1; j < 6; ++j) EXPECT_EQ(got[j], ref[j]) << "slot " << j;
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

// ---------------------------------------------------------------------------------------------
// One training step on CUDA against the CPU

void build_mlp(Sequential& m) {
  m.add(Input({20}));
  m.add(Dense(64, "relu"));
  m.add(Dense(48, "relu"));
  m.add(Dense(10, "softmax"));
}

void build_cnn_body(Sequential& m) {
  m.add(Input({12, 12, 3}));
  m.add(Conv2D(16, 3, 1, "same", "relu"));
  m.add(MaxPool2D(2));
  m.add(Conv2D(24, 3, 2, "same", "relu"));
  m.add(BatchNormalization());
  m.add(AveragePooling2D(2, 1));
  m.add(Flatten());
}

void build_cnn(Sequential& m) {
  build_cnn_body(m);
  m.add(Dense(10, "softmax"));
}

struct StepResult {
  std::vector<float> grads, params, loss;
};

StepResult one_step(void (*build)(Sequential&), const Shape& sample, Device dev, bool mixed) {
  Sequential m("step", 77);
  build(m);
  m.to(dev);
  CompileOptions o;
  o.mixed_precision = mixed;
  o.loss_scale.initial_scale = 1024.0f;
  m.compile(optim::SGD(0.1f, 0.9f), "sparse_categorical_crossentropy", {"accuracy"}, o);
  const auto data = test_data::blobs(32, sample, 10, 5);
  StepResult r;
  const double loss = m.compute_gradients(data.x.to(dev), data.y.to(dev));
  r.loss = {static_cast<float>(loss)};
  r.grads = m.gradients().to_vector();
  m.train_on_batch(data.x.to(dev), data.y.to(dev));
  r.params = m.parameters().to_vector();
  return r;
}

void compare_step(void (*build)(Sequential&), const Shape& sample, bool mixed, double grad_tol, double param_tol) {
  TILENET_REQUIRE_GPU();
  const StepResult cpu = one_step(build, sample, Device::cpu(), mixed);
  const StepResult gpu = one_step(build, sample, Device::cuda(), mixed);
  EXPECT_NEAR(gpu.loss[0], cpu.loss[0], mixed ? 1e-2 : 1e-4);
  EXPECT_GT(test::l2_norm(cpu.grads), 0.0);
  EXPECT_LT(rel_diff(gpu.grads, cpu.grads), grad_tol);
  EXPECT_LT(rel_diff(gpu.params, cpu.params), param_tol);
}

TEST(NnGpu, MlpStepMatchesCpuFp32) { compare_step(build_mlp, {20}, false, 1e-4, 1e-5); }
TEST(NnGpu, MlpStepMatchesCpuMixedPrecision) { compare_step(build_mlp, {20}, true, 1e-2, 1e-3); }
TEST(NnGpu, CnnStepMatchesCpuFp32) { compare_step(build_cnn, {12, 12, 3}, false, 1e-4, 1e-5); }
TEST(NnGpu, CnnStepMatchesCpuMixedPrecision) { compare_step(build_cnn, {12, 12, 3}, true, 2e-2, 1e-3); }

// ---------------------------------------------------------------------------------------------
// Short fits on CUDA

TEST(NnGpu, ShortFitLearnsAndIsDeterministic) {
  TILENET_REQUIRE_GPU();
  const auto data = test_data::blobs(2000, {32}, 10, 9, 0.8f);
  for (bool mixed : {false, true}) {
    SCOPED_TRACE(mixed);
    std::vector<float> first;
    for (int run = 0; run < 2; ++run) {
      Sequential m("fit", 3);
      m.add(Input({32}));
      m.add(Dense(128, "relu"));
      m.add(Dropout(0.2f));
      m.add(Dense(10, "softmax"));
      m.to(Device::cuda());
      CompileOptions o;
      o.mixed_precision = mixed;
      m.compile(optim::RMSprop(1e-3f), "sparse_categorical_crossentropy", {"accuracy"}, o);
      const History h = m.fit(data.x, data.y, {.batch_size = 64, .epochs = 4, .validation_split = 0.1, .verbose = 0});
      EXPECT_LT(h["loss"].back(), 0.5);
      EXPECT_GT(h["val_accuracy"].back(), 0.9);
      EXPECT_TRUE(m.parameters().is_cuda());
      if (run == 0)
        first = m.parameters().to_vector();
      else
        EXPECT_TRUE(test::all_equal(m.parameters().to_vector(), first)) << "same seed, same GPU: same weights";
      const Logs e = m.evaluate(data.x, data.y, {.batch_size = 256});
      const Tensor p = m.predict(data.x, 500);
      EXPECT_TRUE(p.is_cuda());
      EXPECT_EQ(p.shape(), (Shape{2000, 10}));
      EXPECT_GT(e.at("accuracy"), 0.9);
      if (!mixed && run == 1) {
        // Moving the trained model to the CPU keeps its weights and its scores.
        m.to(Device::cpu());
        const Logs c = m.evaluate(data.x, data.y, {.batch_size = 256});
        EXPECT_NEAR(c.at("loss"), e.at("loss"), 1e-4);
        EXPECT_NEAR(c.at("accuracy"), e.at("accuracy"), 2e-3);
      }
    }
  }
}

// fit() with each full batch replayed as a captured CUDA graph gives the eager fit's results. Every
// kernel of the step reduces in a fixed order (the conv bias gradients too: a column sum over
// N*P*Q >= 1024 rows, split over blocks through the arena workspace, no atomics), so graph and eager
// must agree to rounding.
TEST(NnGpu, CudaGraphFitMatchesEagerFit) {
  TILENET_REQUIRE_GPU();
  const auto data = test_data::blobs(1000, {12, 12, 3}, 10, 21, 1.0f);
  for (bool mixed : {false, true}) {
    SCOPED_TRACE(mixed);
    std::vector<float> weights[2];
    History hist[2];
    for (int graph = 0; graph < 2; ++graph) {
      Sequential m("graph", 4);
      m.add(Input({12, 12, 3}));
      m.add(Conv2D(16, 3, 1, "same", "relu"));
      m.add(MaxPool2D(2));
      m.add(Conv2D(24, 3, 2, "same", "relu"));
      m.add(BatchNormalization());
      m.add(AveragePooling2D(2, 1));
      m.add(Flatten());
      m.add(Dense(32, "relu"));
      m.add(Dropout(0.3f));
      m.add(Dense(10, "softmax"));
      m.to(Device::cuda());
      CompileOptions o;
      o.mixed_precision = mixed;
      o.cuda_graph = graph == 1;
      // A per-step schedule (warm-up, then cosine): replays read each step's rate from the device.
      optim::Adam adam(1e-3f);
      adam.set_schedule(std::make_shared<optim::CosineDecay>(1e-3f, 50, 0.1f, 3e-3f, 10));
      m.compile(adam, "sparse_categorical_crossentropy", {"accuracy"}, o);
      hist[graph] = m.fit(data.x, data.y, {.batch_size = 64, .epochs = 3, .validation_split = 0.1, .verbose = 0});
      // A second fit with another seed: a replay must not reuse the first fit's dropout seed.
      hist[graph] = m.fit(data.x, data.y,
                          {.batch_size = 64, .epochs = 1, .validation_split = 0.1, .verbose = 0, .seed = 7});
      weights[graph] = m.parameters().to_vector();
      if (graph == 1) {
        EXPECT_GT(m.graph_launches(), 30) << "the captured graph was not used";
        // The optimizer counts replayed steps: the checkpoint's iterations >= applied steps, so it loads.
        const std::string path = ::testing::TempDir() + "tilenet_graph_fit.safetensors";
        m.save_checkpoint(path, 4);
        EXPECT_EQ(m.load_checkpoint(path), 4);
        std::remove(path.c_str());
        std::remove(io::training_state_path(path).c_str());
      }
    }
    EXPECT_EQ(hist[1].learning_rate, hist[0].learning_rate);
    EXPECT_LT(rel_diff(weights[1], weights[0]), 1e-6);
    EXPECT_NEAR(hist[1]["loss"].back(), hist[0]["loss"].back(), 1e-5);
    EXPECT_NEAR(hist[1]["val_accuracy"].back(), hist[0]["val_accuracy"].back(), 1e-9);
  }
}

// An identity layer that throws while its stream is being captured: the capture of the training
// step fails part-way (after the f16 weight refresh was captured) and fit() runs that step eagerly.
class ThrowsUnderCapture : public Layer {
 public:
  std::string type() const override { return "ThrowsUnderCapture"; }

 protected:
  Shape build_impl(const Shape& in) override { return in; }
  Tensor forward_impl(const Tensor& x, bool) override {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    TILENET_CUDA_CHECK(cudaStreamIsCapturing(cuda::current_stream(x.device().index), &status));
    if (status != cudaStreamCaptureStatusNone) throw ValueError("ThrowsUnderCapture: capturing");
    return x;
  }
  Tensor backward_impl(const Tensor& dy) override { return needs_input_grad() ? dy : Tensor(); }
};

// After a failed capture the eager fallback is the eager fit's step exactly: under mixed precision
// it refreshes the f16 weights although the failed capture's host code had marked them fresh.
TEST(NnGpu, FailedGraphCaptureFallsBackToTheEagerStep) {
  TILENET_REQUIRE_GPU();
  const auto data = test_data::blobs(256, {16}, 4, 13, 1.0f);
  for (bool mixed : {false, true}) {
    SCOPED_TRACE(mixed);
    std::vector<float> weights[2];
    for (int graph = 0; graph < 2; ++graph) {
      Sequential m("fallback", 6);
      m.add(Input({16}));
      m.add(Dense(32, "relu"));
      m.add(ThrowsUnderCapture());
      m.add(Dense(4, "softmax"));
      m.to(Device::cuda());
      CompileOptions o;
      o.mixed_precision = mixed;
      o.cuda_graph = graph == 1;
      m.compile(optim::SGD(0.1f, 0.9f), "sparse_categorical_crossentropy", {"accuracy"}, o);
      m.fit(data.x, data.y, {.batch_size = 32, .epochs = 2, .verbose = 0});
      EXPECT_EQ(m.graph_launches(), 0);
      EXPECT_EQ(m.optimizer().iterations(), 16);
      weights[graph] = m.parameters().to_vector();
    }
    EXPECT_TRUE(test::all_equal(weights[1], weights[0]));
  }
}

// A warm training step allocates nothing: every buffer is reused (CUDA-graph friendly).
TEST(NnGpu, SteadyTrainingStepsDoNotAllocate) {
  TILENET_REQUIRE_GPU();
  for (bool mixed : {false, true}) {
    SCOPED_TRACE(mixed);
    Sequential m("steady", 1);
    build_cnn(m);
    m.to(Device::cuda());
    CompileOptions o;
    o.mixed_precision = mixed;
    m.compile(optim::Adam(1e-3f), "sparse_categorical_crossentropy", {"accuracy"}, o);
    const auto data = test_data::blobs(64, {12, 12, 3}, 10, 2);
    const Tensor x = data.x.cuda().to(mixed ? DType::f16 : DType::f32), y = data.y.cuda();
    for (int i = 0; i < 2; ++i) m.train_on_batch(x, y);
    const MemoryStats before = memory::stats(0);
    for (int i = 0; i < 10; ++i) m.train_on_batch(x, y);
    const MemoryStats after = memory::stats(0);
    EXPECT_EQ(after.allocations, before.allocations);
    EXPECT_EQ(after.cuda_mallocs, before.cuda_mallocs);
    EXPECT_TRUE(std::isfinite(m.read_train_metrics().at("loss")));
  }
}

TEST(NnGpu, CnnFitOnCudaLearns) {
  TILENET_REQUIRE_GPU();
  const auto data = test_data::blobs(512, {12, 12, 3}, 10, 11, 1.0f);
  Sequential m("cnn", 5);
  build_cnn(m);
  m.to(Device::cuda());
  m.compile(optim::Adam(3e-3f), "sparse_categorical_crossentropy", {"accuracy"});
  const History h = m.fit(data.x, data.y, {.batch_size = 32, .epochs = 5, .verbose = 0});
  EXPECT_GT(h["accuracy"].back(), 0.9);
}

}  // namespace
}  // namespace tilenet::nn
