// Sequential semantics on the CPU: summary text, fit (validation_split, seeds), evaluate/predict
// agreement, error messages, mixed precision. Callbacks and checkpoints: test_nn_callbacks.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "nn/callbacks.h"
#include "nn/io/training_state.h"
#include "nn/sequential.h"
#include "nn_model_util.h"
#include "nn_test_data.h"
#include "optim/optimizers.h"
#include "test_util.h"

namespace tilenet::nn {
namespace {

using test_model::host;
using test_model::mlp;
using test_model::tmp_path;

TEST(NnModel, SummaryMatchesKerasTable) {
  Sequential m;
  m.add(Input({784}));
  m.add(Dense(512, "relu"));
  m.add(Dropout(0.2f));
  m.add(Dense(512, "relu"));
  m.add(Dropout(0.2f));
  m.add(Dense(10, "softmax"));
  const std::string expected =
      "Model: \"sequential\"\n"
      "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓\n"
      "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃\n"
      "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩\n"
      "│ dense (Dense)                   │ (None, 512)            │       401,920 │\n"
      "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
      "│ dropout (Dropout)               │ (None, 512)            │             0 │\n"
      "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
      "│ dense_1 (Dense)                 │ (None, 512)            │       262,656 │\n"
      "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
      "│ dropout_1 (Dropout)             │ (None, 512)            │             0 │\n"
      "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
      "│ dense_2 (Dense)                 │ (None, 10)             │         5,130 │\n"
      "└─────────────────────────────────┴────────────────────────┴───────────────┘\n"
      " Total params: 669,706 (2.55 MB)\n"
      " Trainable params: 669,706 (2.55 MB)\n"
      " Non-trainable params: 0 (0.00 B)\n";
  EXPECT_EQ(m.summary_string(), expected);
}

TEST(NnModel, SummaryCountsNonTrainableAndNamesCnnLayers) {
  Sequential m("cnn");
  m.add(Input({28, 28, 1}));
  m.add(Conv2D(32, 3, "relu"));
  m.add(MaxPool2D(2));
  m.add(BatchNormalization());
  m.add(Flatten());
  m.add(Dense(10));
  const std::string s = m.summary_string();
  EXPECT_NE(s.find("conv2d (Conv2D)"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, 26, 26, 32)"), std::string::npos) << s;
  EXPECT_NE(s.find("max_pooling2d (MaxPooling2D)"), std::string::npos) << s;
  EXPECT_NE(s.find("batch_normalization (BatchNormalization)"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, 5408)"), std::string::npos) << s;
  // 320 + 128 + 54,090 = 54,538 total; BN's moving statistics (64) are non-trainable.
  EXPECT_NE(s.find(" Total params: 54,538 (213.04 KB)"), std::string::npos) << s;
  EXPECT_NE(s.find(" Non-trainable params: 64 (256.00 B)"), std::string::npos) << s;
  EXPECT_EQ(m.count_params(true), 54538 - 64);
}

TEST(NnModel, SameSeedGivesSameWeightsAndHistory) {
  const auto data = test_data::blobs(200, {8}, 3, 1);
  auto run = [&](std::uint64_t seed, Tensor& weights) {
    Sequential m;
    mlp(m, 8, 3, 0.3f);
    m.compile(optim::Adam(1e-2f), "sparse_categorical_crossentropy", {"accuracy"});
    History h = m.fit(data.x, data.y, {.batch_size = 32, .epochs = 3, .validation_split = 0.2, .verbose = 0, .seed = seed});
    weights = m.parameters().clone();
    return h;
  };
  Tensor w1, w2, w3;
  const History a = run(5, w1), b = run(5, w2), c = run(6, w3);
  EXPECT_TRUE(test::all_equal(host(w1), host(w2)));
  EXPECT_EQ(a.history, b.history);
  EXPECT_FALSE(test::all_equal(host(w1), host(w3))) << "a different fit seed must shuffle and drop differently";
  ASSERT_EQ(a.epoch.size(), 3u);
  for (const char* k : {"loss", "accuracy", "val_loss", "val_accuracy"}) EXPECT_EQ(a[k].size(), 3u) << k;
  EXPECT_LT(a["loss"][2], a["loss"][0]);
}

TEST(NnModel, ValidationSplitTakesTheLastSamples) {
  const auto data = test_data::blobs(100, {6}, 3, 2);
  Sequential a, b;
  mlp(a, 6, 3);
  mlp(b, 6, 3);
  a.compile(optim::SGD(0.1f), "sparse_categorical_crossentropy", {"accuracy"});
  b.compile(optim::SGD(0.1f), "sparse_categorical_crossentropy", {"accuracy"});
  // 25% of 100: samples 75..99 validate, 0..74 train (before shuffling, as Keras).
  const History ha = a.fit(data.x, data.y, {.batch_size = 10, .epochs = 2, .validation_split = 0.25, .verbose = 0});
  b.fit(data.x.slice(0, 75), data.y.slice(0, 75), {.batch_size = 10, .epochs = 2, .verbose = 0});
  EXPECT_TRUE(test::all_equal(host(a.parameters()), host(b.parameters())));
  const Logs tail = a.evaluate(data.x.slice(75, 100), data.y.slice(75, 100));
  EXPECT_DOUBLE_EQ(ha["val_loss"].back(), tail.at("loss"));
  EXPECT_DOUBLE_EQ(ha["val_accuracy"].back(), tail.at("accuracy"));
}

TEST(NnModel, PredictMatchesEvaluate) {
  const auto data = test_data::blobs(90, {5}, 4, 3);
  Sequential m;
  mlp(m, 5, 4);
  m.compile(optim::RMSprop(1e-2f), "categorical_crossentropy", {"accuracy", Metric("top_k_categorical_accuracy", 2)});
  m.fit(data.x, data.onehot, {.batch_size = 16, .epochs = 2, .verbose = 0});
  const Logs e = m.evaluate(data.x, data.onehot, {.batch_size = 7});
  const std::vector<float> p = host(m.predict(data.x, 13));
  const std::vector<float> t = host(data.onehot);
  double loss = 0.0, correct = 0.0, top2 = 0.0;
  for (int i = 0; i < 90; ++i) {
    int label = 0, best = 0, above = 0;
    float sum = 0.0f;
    for (int c = 0; c < 4; ++c) {
      sum += p[i * 4 + c];
      if (t[i * 4 + c] > 0.5f) label = c;
      if (p[i * 4 + c] > p[i * 4 + best]) best = c;
    }
    EXPECT_NEAR(sum, 1.0f, 1e-5f);
    for (int c = 0; c < 4; ++c) above += p[i * 4 + c] > p[i * 4 + label];
    loss -= std::log(p[i * 4 + label]);
    correct += best == label;
    top2 += above < 2;
  }
  EXPECT_NEAR(e.at("loss"), loss / 90, 1e-5);
  EXPECT_DOUBLE_EQ(e.at("accuracy"), correct / 90);
  EXPECT_DOUBLE_EQ(e.at("top_k_categorical_accuracy"), top2 / 90);
}

TEST(NnModel, FitLearnsBlobsWithEveryLoss) {
  const auto data = test_data::blobs(256, {4}, 3, 4, 0.3f);
  for (const char* loss : {"sparse_categorical_crossentropy", "categorical_crossentropy", "mse"}) {
    Sequential m;
    mlp(m, 4, 3);
    m.compile(optim::Adam(2e-2f), loss, {"accuracy"});
    const Tensor& y = std::string(loss) == "sparse_categorical_crossentropy" ? data.y : data.onehot;
    const History h = m.fit(data.x, y, {.batch_size = 32, .epochs = 8, .verbose = 0, .seed = 1});
    EXPECT_GT(h["accuracy"].back(), 0.9) << loss;
    EXPECT_LT(h["loss"].back(), h["loss"].front()) << loss;
  }
}

TEST(NnModel, AccuracyPicksTheBinaryVariantForOneUnit) {
  // y = 1 when the first feature is positive; one output unit under MSE: "accuracy" thresholds at 0.5.
  std::vector<float> xv = test::random_uniform(200, -1, 1, 13), yv(100);
  for (int i = 0; i < 100; ++i) yv[i] = xv[2 * i] > 0 ? 1.0f : 0.0f;
  const Tensor x = Tensor::from_vector(xv, {100, 2}), y = Tensor::from_vector(yv, {100, 1});
  Sequential m;
  m.add(Input({2}));
  m.add(Dense(1));
  m.compile(optim::SGD(0.0f), "mse", {"accuracy"});
  const Logs e = m.evaluate(x, y);
  const std::vector<float> p = m.predict(x).to_vector();
  double correct = 0;
  for (int i = 0; i < 100; ++i) correct += (p[i] > 0.5f) == (yv[i] > 0.5f);
  EXPECT_DOUBLE_EQ(e.at("accuracy"), correct / 100);
  m.compile(optim::SGD(), "mse", {"top_k_categorical_accuracy"});
  EXPECT_THROW(m.evaluate(x, y), ValueError);  // metrics resolve against the targets, as in Keras
}

// fit, evaluate and predict leave no cached input behind (it may be a view of a whole dataset
// copy): a layer's backward without a new forward is refused, a forward caches afresh.
TEST(NnModel, FitEvaluatePredictDropCachedInputs) {
  const auto data = test_data::blobs(64, {5}, 3, 8);
  Sequential m;
  mlp(m, 5, 3);
  m.compile(optim::SGD(0.1f), "sparse_categorical_crossentropy");
  const Tensor dy = Tensor::full({4, 16}, 0.5f);
  const auto backward_refused = [&] {
    try {
      m.layer(0).backward(dy);
    } catch (const ValueError& e) {
      return std::string(e.what()).find("backward called before forward") != std::string::npos;
    }
    return false;
  };
  m.fit(data.x, data.y, {.batch_size = 16, .epochs = 1, .verbose = 0});
  EXPECT_TRUE(backward_refused());
  m.layer(0).forward(data.x.slice(0, 4), true);
  EXPECT_NO_THROW(m.layer(0).backward(dy));
  m.evaluate(data.x, data.y);
  EXPECT_TRUE(backward_refused());
  m.layer(0).forward(data.x.slice(0, 4), true);
  m.predict(data.x, 16);
  EXPECT_TRUE(backward_refused());
  // Also when the run ends by an exception (a callback throwing mid-epoch).
  struct Thrower : Callback {
    void on_train_batch_end(std::int64_t b) override {
      if (b == 1) throw std::runtime_error("stop here");
    }
  };
  EXPECT_THROW(m.fit(data.x, data.y, {.batch_size = 16, .epochs = 1, .verbose = 0,
                                      .callbacks = {std::make_shared<Thrower>()}}),
               std::runtime_error);
  EXPECT_TRUE(backward_refused());
}

TEST(NnModel, BadShapesAndDtypesGiveClearErrors) {
  Sequential m;
  mlp(m, 8, 3);
  m.compile(optim::SGD(), "sparse_categorical_crossentropy", {"accuracy"});
  const Tensor x = Tensor::zeros({4, 8}), y = Tensor::from_ints({0, 1, 2, 0}, {4});
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  std::string s = message([&] { m.fit(Tensor::zeros({4, 7}), y, {.verbose = 0}); });
  EXPECT_NE(s.find("dense (Dense)"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, 8)"), std::string::npos) << s;
  EXPECT_THROW(m.fit(Tensor::zeros({4, 7}), y, {.verbose = 0}), ShapeError);
  EXPECT_THROW(m.fit(x, Tensor::zeros({4, 3}), {.verbose = 0}), ShapeError);  // one-hot for a sparse loss
  EXPECT_THROW(m.fit(x, Tensor::from_ints({0, 1, 2}, {3}), {.verbose = 0}), ShapeError);
  EXPECT_THROW(m.fit(x, Tensor::full({4}, 0.5f), {.verbose = 0}), ValueError);  // non-integral labels
  // A label past the model's outputs is refused before training, integer or float.
  s = message([&] { m.fit(x, Tensor::from_ints({0, 1, 3, 0}, {4}), {.verbose = 0}); });
  EXPECT_NE(s.find("fit: label 3 at index 2 is outside [0, 3)"), std::string::npos) << s;
  s = message([&] { m.evaluate(x, Tensor::from_vector({0, 1, 2, 7}, {4}), {.verbose = 0}); });
  EXPECT_NE(s.find("evaluate: label 7 at index 3 is outside [0, 3)"), std::string::npos) << s;
  EXPECT_THROW(m.train_on_batch(x, Tensor::from_ints({-1, 1, 2, 0}, {4})), ValueError);
  EXPECT_THROW(m.fit(x, y, {.batch_size = 0, .verbose = 0}), ValueError);
  EXPECT_THROW(m.fit(x, y, {.validation_split = 1.0, .verbose = 0}), ValueError);
  s = message([&] { m.layer(0).forward(Tensor::zeros({2, 9}), false); });
  EXPECT_NE(s.find("dense (Dense): got input shape (2, 9), expected (None, 8)"), std::string::npos) << s;
  EXPECT_THROW(m.layer(0).forward(Tensor::zeros({2, 8}, DType::i32), false), DtypeError);
  Sequential c;
  mlp(c, 8, 3);
  c.compile(optim::SGD(), "categorical_crossentropy");
  EXPECT_THROW(c.fit(x, y, {.verbose = 0}), DtypeError);  // integer labels need the sparse loss
  Sequential u;
  u.add(Dense(3));
  EXPECT_THROW(u.summary_string(), ValueError);  // not built
  EXPECT_THROW(u.fit(x, y), ValueError);          // not compiled
  EXPECT_THROW(Dense(0), ValueError);
  EXPECT_THROW(Dense(4, "tanh"), ValueError);
  EXPECT_THROW(Conv2D(4, 3, 1, "full"), ValueError);
  EXPECT_THROW(Dropout(1.0f), ValueError);
  EXPECT_THROW(Loss("hinge"), ValueError);
  EXPECT_THROW(Metric("auc"), ValueError);
  Sequential big;
  big.add(Input({2, 2, 1}));
  EXPECT_THROW(big.add(Conv2D(1, 3)), ShapeError);  // a 3x3 window does not fit 2x2 with "valid"
}

TEST(NnModel, MixedPrecisionOnCpuTrainsAndCountsSkippedSteps) {
  const auto data = test_data::blobs(128, {6}, 3, 12, 0.3f);
  Sequential m;
  mlp(m, 6, 3);
  CompileOptions mp;
  mp.mixed_precision = true;
  mp.loss_scale.initial_scale = 16777216.0f;  // 2^24: the first scaled gradients overflow f16
  m.compile(optim::Adam(2e-2f), "sparse_categorical_crossentropy", {"accuracy"}, mp);
  const History h = m.fit(data.x, data.y, {.batch_size = 16, .epochs = 4, .verbose = 0});
  EXPECT_GT(h.skipped_steps[0], 0);
  EXPECT_GT(h["accuracy"].back(), 0.85);
  EXPECT_LT(m.loss_scaler()->current_scale(), 16777216.0f);
  // A checkpoint keeps the scale and the clean steps towards its next doubling.
  const std::string path = tmp_path("mp_ckpt.safetensors");
  m.save_checkpoint(path, 4);
  Sequential r;
  mlp(r, 6, 3);
  r.compile(optim::Adam(2e-2f), "sparse_categorical_crossentropy", {"accuracy"}, mp);
  EXPECT_EQ(r.load_checkpoint(path), 4);
  EXPECT_FLOAT_EQ(r.loss_scaler()->current_scale(), m.loss_scaler()->current_scale());
  EXPECT_EQ(r.loss_scaler()->good_steps(), m.loss_scaler()->good_steps());
  EXPECT_GT(m.loss_scaler()->good_steps(), 0);
  // A training state with a bad loss-scale entry is refused before anything changes: the fresh
  // model keeps its weights, optimizer step count and loss scale.
  for (const char* bad : {"abc", "-3", "7x"}) {
    SCOPED_TRACE(bad);
    io::save_training_state(io::training_state_path(path), m.optimizer(), 4,
                            {{"loss_scale", "8"}, {"loss_scale_good_steps", bad}});
    Sequential f;
    mlp(f, 6, 3);
    f.compile(optim::Adam(2e-2f), "sparse_categorical_crossentropy", {"accuracy"}, mp);
    f.predict(data.x.slice(0, 2));  // builds it
    const std::vector<float> before = host(f.parameters());
    EXPECT_TRUE(test::throws_with<ValueError>([&] { f.load_checkpoint(path); }, {"loss_scale_good_steps", bad}));
    EXPECT_TRUE(test::all_equal(host(f.parameters()), before));
    EXPECT_EQ(f.optimizer().iterations(), 0);
    EXPECT_EQ(f.loss_scaler()->current_scale(), 16777216.0f);
  }
  std::remove(path.c_str());
  std::remove(io::training_state_path(path).c_str());
}

}  // namespace
}  // namespace tilenet::nn