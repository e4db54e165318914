// nn/ on CUDA: one training step on the GPU against the same step on the CPU (MLP and small CNN,
// fp32 and mixed precision), short fits that must learn, CUDA-graph steps against eager ones, and
// steady steps that allocate nothing. Skips without a GPU (ctest label gpu).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/gemm_wgmma_gate.h"
#include "kernels/launch.h"
#include "nn/callbacks.h"
#include "nn/io/training_state.h"
#include "nn/losses.h"
#include "nn/sequential.h"
#include "nn_test_data.h"
#include "optim/optimizers.h"
#include "tensor/memory.h"
#include "tensor/stream.h"
#include "test_util.h"

namespace tilenet::nn {
namespace {

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
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
// Mixed: the compared gradients (compute_gradients) are unscaled, so the loss-scaled path is
// checked through the parameters. One step moves them by 1.5e-2 (MLP) and 5e-2 (CNN) of their
// norm; the whole effect of f16 on them (CPU mixed vs CPU fp32) is 4e-4 (MLP) and 3e-4 (CNN).
// 6e-4 stays above that (a GPU rounding at a point the CPU does not cannot fail a correct
// kernel) and catches a train-step gradient error of a few per cent.
TEST(NnGpu, MlpStepMatchesCpuMixedPrecision) { compare_step(build_mlp, {20}, true, 1e-2, 6e-4); }
TEST(NnGpu, CnnStepMatchesCpuFp32) { compare_step(build_cnn, {12, 12, 3}, false, 1e-4, 1e-5); }
TEST(NnGpu, CnnStepMatchesCpuMixedPrecision) { compare_step(build_cnn, {12, 12, 3}, true, 2e-2, 6e-4); }

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

// Sets clipnorm when epoch `at` begins: a captured step must not keep replaying the old setting.
class ClipAtEpoch : public Callback {
 public:
  ClipAtEpoch(int at, float clipnorm) : at_(at), clipnorm_(clipnorm) {}
  void on_epoch_begin(int epoch, const Logs&) override {
    if (epoch == at_) model().optimizer().set_clipnorm(clipnorm_);
  }

 private:
  int at_;
  float clipnorm_;
};

TEST(NnGpu, CudaGraphFollowsOptimizerChangesMidFit) {
  TILENET_REQUIRE_GPU();
  const auto data = test_data::blobs(640, {8}, 4, 23, 1.0f);
  std::vector<float> weights[2];
  for (int graph = 0; graph < 2; ++graph) {
    Sequential m("clip", 5);
    m.add(Input({8}));
    m.add(Dense(16, "relu"));
    m.add(Dense(4, "softmax"));
    m.to(Device::cuda());
    CompileOptions o;
    o.cuda_graph = graph == 1;
    m.compile(optim::SGD(0.5f, 0.9f), "sparse_categorical_crossentropy", {}, o);
    m.fit(data.x, data.y,
          {.batch_size = 64, .epochs = 3, .verbose = 0, .callbacks = {std::make_shared<ClipAtEpoch>(1, 1e-3f)}});
    weights[graph] = m.parameters().to_vector();
    if (graph == 1) EXPECT_GT(m.graph_launches(), 10) << "the captured graph was not used";
  }
  EXPECT_LT(rel_diff(weights[1], weights[0]), 1e-6);
}

// Targets on another device than the model: a typed error, never a kernel fed a host pointer.
TEST(NnGpu, TargetsOnTheWrongDeviceAreRefused) {
  TILENET_REQUIRE_GPU();
  Sequential m("dev", 1);
  m.add(Input({4}));
  m.add(Dense(3));
  m.to(Device::cuda());
  m.compile(optim::SGD(0.1f), "mse");
  const Tensor x = Tensor::uniform({5, 4}, -1, 1, 3, Device::cuda());
  const Tensor y_cpu = Tensor::uniform({5, 3}, -1, 1, 4);
  EXPECT_THROW(m.compute_gradients(x, y_cpu), DeviceError);
  EXPECT_THROW(m.train_on_batch(x, y_cpu), DeviceError);
  Tensor losses = Tensor::empty({5}, DType::f32, Device::cuda()), none;
  const Tensor pred = Tensor::uniform({5, 3}, -1, 1, 5, Device::cuda());
  EXPECT_THROW(compute_loss(Loss("mse"), pred, false, y_cpu, losses, none, 1.0f), DeviceError);
  EXPECT_NO_THROW(m.compute_gradients(x, y_cpu.cuda()));  // and the model is still usable
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
      build_cnn_body(m);
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
        // On Hopper (where the sm_90a kernels run) the capture came after Auto's wgmma gate was
        // settled (kernels::gemm_settle_auto): the graph's GEMMs were chosen with the verdict known.
        int dev = 0;
        TILENET_CUDA_CHECK(cudaGetDevice(&dev));
        if (kernels::sm90a_kernels_available() && !kernels::wgmma_disabled_by_environment())
          EXPECT_TRUE(kernels::wgmma_auto_gate().verdict(dev).has_value()) << "the wgmma gate was not settled";
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
