// The README's API example, compiled and run as a test on tiny synthetic data (the README trains on
// MNIST; this keeps the code identical apart from where x_train/y_train come from).
#include <gtest/gtest.h>

#include <random>

#include "nn/nn.h"

namespace {

// 512 "images" of 28x28 whose label is the brightest of ten horizontal bands.
void synthetic_mnist(tilenet::Tensor& x, tilenet::Tensor& y, int n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(0.0f, 0.3f);
  std::vector<float> px(static_cast<std::size_t>(n) * 784);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    labels[i] = static_cast<std::int32_t>(gen() % 10);
    for (int p = 0; p < 784; ++p) px[i * 784 + p] = u(gen) + ((p / 28) * 10 / 28 == labels[i] ? 0.7f : 0.0f);
  }
  x = tilenet::Tensor::from_vector(px, {n, 28, 28, 1});
  y = tilenet::Tensor::from_ints(labels, {n});
}

TEST(ReadmeExample, MnistMlpCompilesAndTrains) {
  tilenet::Tensor x_train, y_train, x_test, y_test;
  synthetic_mnist(x_train, y_train, 512, 1);
  synthetic_mnist(x_test, y_test, 128, 2);

  // --- README snippet begins ---
  using namespace tilenet;
  using namespace tilenet::nn;

  Sequential model;
  model.add(Input({28, 28, 1}));
  model.add(Flatten());
  model.add(Dense(512, "relu"));
  model.add(Dropout(0.2f));
  model.add(Dense(512, "relu"));
  model.add(Dropout(0.2f));
  model.add(Dense(10, "softmax"));
  model.summary();

  model.to(default_device());  // cuda:0 when there is a GPU, else the CPU
  model.compile(optim::RMSprop(1e-3f), "sparse_categorical_crossentropy", {"accuracy"});
  History history = model.fit(x_train, y_train, {.batch_size = 128, .epochs = 3, .validation_split = 0.1});
  Logs score = model.evaluate(x_test, y_test);
  std::printf("test loss %.4f, test accuracy %.4f\n", score["loss"], score["accuracy"]);
  // --- README snippet ends ---

  EXPECT_EQ(history.epoch.size(), 3u);
  EXPECT_GT(score["accuracy"], 0.9);
}

}  // namespace
