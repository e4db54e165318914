// End-to-end CPU training on real data: an MLP on 6,000 Fashion-MNIST training images for two
// epochs must reach >= 0.80 accuracy on 1,000 test images. The data come from Debian's
// dataset-fashion-mnist package (or the folder in TILENET_FASHION_MNIST, as on the GPU kit);
// without them this test FAILS (CI must install it), it does not skip.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "nn/data/idx.h"
#include "nn/sequential.h"
#include "optim/optimizers.h"

namespace tilenet::nn {
namespace {

std::string data_dir() {
  const char* env = std::getenv("TILENET_FASHION_MNIST");
  return env && *env ? env : "/usr/share/datasets/fashion-mnist";
}

TEST(NnTraining, FashionMnistMlpCpuTwoEpochs) {
  const std::string kDir = data_dir();
  data::LabeledImages train, test;
  try {
    train = data::load_mnist(kDir, /*train=*/true);
    test = data::load_mnist(kDir, /*train=*/false);
  } catch (const Error& e) {
    FAIL() << "Fashion-MNIST is required in " << kDir << " (apt-get install -y dataset-fashion-mnist): " << e.what();
  }
  const Tensor x = train.x.slice(0, 6000), y = train.y.slice(0, 6000);
  const Tensor xt = test.x.slice(0, 1000), yt = test.y.slice(0, 1000);

  Sequential model("fashion_mlp", 42);
  model.add(Input({28, 28, 1}));
  model.add(Flatten());
  model.add(Dense(256, "relu"));
  model.add(Dense(10, "softmax"));
  model.compile(optim::Adam(1e-3f), "sparse_categorical_crossentropy", {"accuracy"});

  const auto t0 = std::chrono::steady_clock::now();
  const History h = model.fit(x, y, {.batch_size = 32, .epochs = 2, .verbose = 2, .seed = 1});
  const Logs r = model.evaluate(xt, yt, {.batch_size = 256});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "test_accuracy=" << r.at("accuracy") << " test_loss=" << r.at("loss") << " seconds=" << s << "\n";
  EXPECT_LT(h["loss"][1], h["loss"][0]);
  EXPECT_GE(r.at("accuracy"), 0.80);
}

}  // namespace
}  // namespace tilenet::nn
