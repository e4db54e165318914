// Sequential on the CPU: callbacks in Keras's order (early stopping, learning-rate schedules,
// loggers, ModelCheckpoint) and checkpoints (save/load of weights, resuming a fit identically).
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

struct Recorder : Callback {
  std::vector<std::string> events;
  std::string tag;
  explicit Recorder(std::string t) : tag(std::move(t)) {}
  void on_train_begin(const Logs&) override { events.push_back(tag + ":train_begin"); }
  void on_train_end(const Logs& logs) override { events.push_back(tag + ":train_end loss=" + std::to_string(logs.count("loss"))); }
  void on_epoch_begin(int e, const Logs&) override { events.push_back(tag + ":epoch_begin " + std::to_string(e)); }
  void on_epoch_end(int e, Logs& logs) override {
    events.push_back(tag + ":epoch_end " + std::to_string(e) + " val=" + std::to_string(logs.count("val_loss")));
  }
  void on_train_batch_begin(std::int64_t b) override { events.push_back(tag + ":batch_begin " + std::to_string(b)); }
  void on_train_batch_end(std::int64_t b) override { events.push_back(tag + ":batch_end " + std::to_string(b)); }
};

TEST(NnModel, CallbacksRunInKerasOrder) {
  const auto data = test_data::blobs(20, {3}, 2, 5);
  Sequential m;
  mlp(m, 3, 2);
  m.compile(optim::SGD(0.1f), "sparse_categorical_crossentropy");
  auto r = std::make_shared<Recorder>("a");
  m.fit(data.x, data.y, {.batch_size = 8, .epochs = 3, .validation_split = 0.2, .verbose = 0, .callbacks = {r}, .initial_epoch = 1});
  const std::vector<std::string> expected = {
      "a:train_begin",   "a:epoch_begin 1", "a:batch_begin 0", "a:batch_end 0",       "a:batch_begin 1",
      "a:batch_end 1",   "a:epoch_end 1 val=1", "a:epoch_begin 2", "a:batch_begin 0", "a:batch_end 0",
      "a:batch_begin 1", "a:batch_end 1",   "a:epoch_end 2 val=1", "a:train_end loss=1"};
  EXPECT_EQ(r->events, expected);
}

// Records the parameters after every epoch so a test can tell which epoch's weights are current.
struct Snapshots : Callback {
  std::vector<std::vector<float>> params;
  void on_epoch_end(int, Logs&) override { params.push_back(model().parameters().to_vector()); }
};

TEST(NnModel, EarlyStoppingRestoresTheBestWeights) {
  // Validation labels contradict the training labels: val_loss is best after the first epoch and
  // worsens as training proceeds.
  const auto data = test_data::blobs(64, {4}, 2, 6, 0.2f);
  std::vector<std::int32_t> flipped = data.y.to_ints();
  for (auto& v : flipped) v = 1 - v;
  Sequential m;
  mlp(m, 4, 2);
  m.compile(optim::SGD(0.5f), "sparse_categorical_crossentropy");
  auto snaps = std::make_shared<Snapshots>();
  auto stop = std::make_shared<EarlyStopping>("val_loss", 0.0, 2, "auto", true);
  const History h = m.fit(data.x, data.y,
                          {.batch_size = 16, .epochs = 20, .validation_data = {data.x, Tensor::from_ints(flipped, {64})},
                           .verbose = 0, .callbacks = {snaps, stop}});
  ASSERT_EQ(h.epoch.size(), 3u) << "patience 2 stops after epochs 1 and 2 fail to improve on epoch 0";
  EXPECT_EQ(stop->stopped_epoch(), 2);
  EXPECT_EQ(stop->best_epoch(), 0);
  EXPECT_TRUE(test::all_equal(host(m.parameters()), snaps->params[0]));
  EXPECT_FALSE(test::all_equal(host(m.parameters()), snaps->params[2]));
}

TEST(NnModel, CheckpointResumeContinuesIdentically) {
  const auto data = test_data::blobs(96, {6}, 3, 7);
  auto make = [](Sequential& m) {
    mlp(m, 6, 3, 0.25f);
    m.compile(optim::Adam(1e-2f), "sparse_categorical_crossentropy", {"accuracy"});
  };
  const FitOptions base{.batch_size = 16, .epochs = 4, .verbose = 0, .seed = 11};
  Sequential straight;
  make(straight);
  const History hs = straight.fit(data.x, data.y, base);

  Sequential first;
  make(first);
  FitOptions two = base;
  two.epochs = 2;
  first.fit(data.x, data.y, two);
  const std::string path = tmp_path("resume.safetensors");
  first.save_checkpoint(path, 2);

  Sequential resumed;
  make(resumed);
  const int next = resumed.load_checkpoint(path);
  EXPECT_EQ(next, 2);
  FitOptions rest = base;
  rest.initial_epoch = next;
  const History hr = resumed.fit(data.x, data.y, rest);
  EXPECT_TRUE(test::all_equal(host(resumed.parameters()), host(straight.parameters())));
  ASSERT_EQ(hr.epoch, (std::vector<int>{2, 3}));
  EXPECT_EQ(hr["loss"][1], hs["loss"][3]);
  std::remove(path.c_str());
}

TEST(NnModel, SaveAndLoadWeightsRoundTrip) {
  const auto data = test_data::blobs(40, {5}, 3, 8);
  Sequential a("a", 1), b("b", 2);
  mlp(a, 5, 3);
  mlp(b, 5, 3);
  a.compile("adam", "sparse_categorical_crossentropy");
  a.fit(data.x, data.y, {.batch_size = 8, .epochs = 1, .verbose = 0});
  const std::string path = tmp_path("weights.safetensors");
  a.save_weights(path);
  b.load_weights(path);
  EXPECT_TRUE(test::all_equal(host(a.predict(data.x)), host(b.predict(data.x))));
  Sequential c;
  c.add(Input({5}));
  c.add(Dense(17, "relu"));
  c.add(Dense(3, "softmax"));
  try {
    c.load_weights(path);
    FAIL() << "loading 16-unit weights into a 17-unit layer must fail";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("dense/kernel"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(NnModel, LearningRateCallbacksAndLoggers) {
  const auto data = test_data::blobs(40, {3}, 2, 9);
  Sequential m;
  mlp(m, 3, 2);
  m.compile(optim::SGD(0.1f), "sparse_categorical_crossentropy", {"accuracy"});
  const std::string csv = tmp_path("log.csv"), json = tmp_path("history.json");
  auto sched = std::make_shared<LearningRateScheduler>([](int epoch, double lr) { return epoch == 0 ? lr : lr * 0.5; });
  const History h = m.fit(data.x, data.y,
                          {.batch_size = 8, .epochs = 3, .verbose = 0,
                           .callbacks = {sched, std::make_shared<CSVLogger>(csv), std::make_shared<JSONHistoryWriter>(json)}});
  ASSERT_EQ(h.learning_rate.size(), 3u);
  EXPECT_FLOAT_EQ(static_cast<float>(h.learning_rate[0]), 0.1f);
  EXPECT_FLOAT_EQ(static_cast<float>(h.learning_rate[2]), 0.025f);
  std::ifstream f(csv);
  std::string header, row;
  std::getline(f, header);
  EXPECT_EQ(header, "epoch,accuracy,learning_rate,loss");
  int rows = 0;
  while (std::getline(f, row)) ++rows;
  EXPECT_EQ(rows, 3);
  std::ifstream j(json);
  std::stringstream js;
  js << j.rdbuf();
  EXPECT_NE(js.str().find("\"epoch\": [0, 1, 2]"), std::string::npos) << js.str();
  EXPECT_NE(js.str().find("\"loss\": ["), std::string::npos) << js.str();

  // ReduceLROnPlateau: a monitor that never improves halves the rate every `patience` epochs.
  Sequential r;
  mlp(r, 3, 2);
  r.compile(optim::SGD(0.0f), "sparse_categorical_crossentropy");
  auto plateau = std::make_shared<ReduceLROnPlateau>("loss", 0.5, 1, "auto", 1e-4, 0, 0.0);
  r.optimizer().set_learning_rate(0.0f);
  const History hp = r.fit(data.x, data.y, {.batch_size = 8, .epochs = 2, .shuffle = false, .verbose = 0, .callbacks = {plateau}});
  EXPECT_EQ(hp.learning_rate.back(), 0.0);  // lr 0 is at min_lr 0: nothing to reduce
  std::remove(csv.c_str());
  std::remove(json.c_str());
}

TEST(NnModel, ModelCheckpointSavesBestOnly) {
  const auto data = test_data::blobs(40, {3}, 2, 10);
  Sequential m;
  mlp(m, 3, 2);
  m.compile(optim::SGD(0.2f), "sparse_categorical_crossentropy");
  const std::string pattern = tmp_path("ckpt_{epoch:02d}.safetensors");
  auto ck = std::make_shared<ModelCheckpoint>(pattern, "loss", true);
  EXPECT_EQ(ck->path_for(2), tmp_path("ckpt_03.safetensors"));
  m.fit(data.x, data.y, {.batch_size = 8, .epochs = 2, .verbose = 0, .callbacks = {ck}});
  for (int e : {0, 1}) {
    const std::string p = ck->path_for(e);
    std::ifstream f(p);
    EXPECT_TRUE(f.good()) << p << " (loss improves every epoch here)";
    std::remove(p.c_str());
  }
}

}  // namespace
}  // namespace tilenet::nn
