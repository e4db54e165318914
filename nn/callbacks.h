// Callbacks for fit(), with Keras's semantics. Hooks run on the host between steps and epochs;
// the per-batch hooks get no metric values (reading them would synchronise with the device every
// step): epoch-end logs carry loss, metrics, val_* and learning_rate.
//
// Order within fit(): on_train_begin; per epoch: on_epoch_begin, [on_train_batch_begin,
// on_train_batch_end] per batch, validation, the progress line, on_epoch_end (callbacks in the
// order given; each may change the learning rate or set model.stop_training); on_train_end.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include "nn/sequential.h"

namespace tilenet::nn {

class Callback {
 public:
  virtual ~Callback() = default;
  void set_model(Sequential* model) { model_ = model; }
  Sequential& model() const;

  virtual void on_train_begin(const Logs&) {}
  virtual void on_train_end(const Logs&) {}
  virtual void on_epoch_begin(int /*epoch*/, const Logs&) {}
  virtual void on_epoch_end(int /*epoch*/, Logs& /*logs*/) {}
  virtual void on_train_batch_begin(std::int64_t /*batch*/) {}
  virtual void on_train_batch_end(std::int64_t /*batch*/) {}

 protected:
  Sequential* model_ = nullptr;
};

// "min", "max" or "auto" (max for names ending in "acc"/"accuracy"/"auc", else min).
bool monitor_maximises(const std::string& monitor, const std::string& mode, const char* who);

// Stops training when `monitor` stops improving by more than min_delta for `patience` epochs.
// restore_best_weights: at the stop, the weights (and batch-norm statistics) of the best epoch are
// put back (Keras: only when training is stopped early).
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(std::string monitor = "val_loss", double min_delta = 0.0, int patience = 0,
                         std::string mode = "auto", bool restore_best_weights = false, int verbose = 0,
                         double baseline = std::numeric_limits<double>::quiet_NaN(), int start_from_epoch = 0);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, Logs& logs) override;
  void on_train_end(const Logs&) override;
  int stopped_epoch() const { return stopped_epoch_; }  // 0 when training ran to the end
  int best_epoch() const { return best_epoch_; }
  double best() const { return best_; }

 private:
  bool improved(double current, double reference) const;
  std::string monitor_;
  double min_delta_;
  int patience_;
  bool maximise_;
  bool restore_;
  int verbose_;
  double baseline_;
  int start_from_epoch_;
  int wait_ = 0, stopped_epoch_ = 0, best_epoch_ = 0;
  double best_ = 0.0;
  Tensor best_params_, best_state_;
};

// Saves the weights after each epoch (or only when `monitor` improves). `path` may contain
// "{epoch}" or "{epoch:02d}" (1-based, as Keras). weights_only = false saves a training checkpoint
// (weights + optimizer state + epoch) that load_checkpoint resumes from. Writes are atomic.
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(std::string path, std::string monitor = "val_loss", bool save_best_only = false,
                           bool weights_only = true, std::string mode = "auto", int verbose = 0);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, Logs& logs) override;
  // The path for a (0-based) epoch after substitution.
  std::string path_for(int epoch) const;

 private:
  std::string path_, monitor_;
  bool best_only_, weights_only_, maximise_;
  int verbose_;
  double best_ = 0.0;
  bool have_best_ = false;
};

// Sets the learning rate at the start of every epoch to schedule(epoch, current_lr).
class LearningRateScheduler : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int, double)> schedule, int verbose = 0);
  void on_epoch_begin(int epoch, const Logs&) override;
  void on_epoch_end(int epoch, Logs& logs) override;

 private:
  std::function<double(int, double)> schedule_;
  int verbose_;
};

// Multiplies the learning rate by `factor` when `monitor` has not improved (by min_delta) for
// `patience` epochs, then waits `cooldown` epochs; never below min_lr.
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(std::string monitor = "val_loss", double factor = 0.1, int patience = 10,
                             std::string mode = "auto", double min_delta = 1e-4, int cooldown = 0, double min_lr = 0.0,
                             int verbose = 0);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, Logs& logs) override;

 private:
  std::string monitor_;
  double factor_;
  int patience_;
  bool maximise_;
  double min_delta_;
  int cooldown_;
  double min_lr_;
  int verbose_;
  double best_ = 0.0;
  int wait_ = 0, cooldown_counter_ = 0;
};

// Appends one CSV row per epoch: "epoch" then the log keys in sorted order (Keras's CSVLogger).
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string path, char separator = ',', bool append = false);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, Logs& logs) override;
  void on_train_end(const Logs&) override;

 private:
  std::string path_;
  char sep_;
  bool append_;
  bool header_written_ = false;
  std::ofstream out_;
  std::vector<std::string> keys_;
};

// Rewrites a JSON file after every epoch (atomically): {"epoch": [...], "loss": [...], ...}.
class JSONHistoryWriter : public Callback {
 public:
  explicit JSONHistoryWriter(std::string path);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, Logs& logs) override;

 private:
  std::string path_;
  History h_;
};

// Writes text to `path` through a temporary file renamed into place.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace tilenet::nn
