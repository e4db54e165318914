// Sequential: a stack of layers trained the Keras way.
//
//   Sequential model;
//   model.add(Input({784}));
//   model.add(Dense(512, "relu"));
//   model.add(Dropout(0.2f));
//   model.add(Dense(10, "softmax"));
//   model.to(default_device());
//   model.compile(optim::RMSprop(1e-3f), "sparse_categorical_crossentropy", {"accuracy"});
//   History h = model.fit(x_train, y_train, {.batch_size = 128, .epochs = 12, .validation_split = 0.1});
//   Logs test = model.evaluate(x_test, y_test);   // {"loss": ..., "accuracy": ...}
//   Tensor probs = model.predict(x_test);
//
// Parameters of every layer live in one flat f32 buffer (gradients in a second one of the same
// layout, non-trainable state in a third), so an optimizer step is one fused launch. On CUDA a
// training epoch never waits for the host: the data sit on the GPU, each epoch is shuffled by one
// gather launch, the loss and metrics accumulate in device memory and are read once per epoch (and
// at most every 0.5 s for the progress bar on a terminal); under mixed precision the loss scale
// and the skip decision stay on the device too. Each step allocates nothing once warm.
//
// Mixed precision (CompileOptions::mixed_precision): f32 master weights; one cast launch per step
// refreshes an f16 copy; Dense/Conv2D run f16 x f16 on Tensor Cores with f32 accumulation; the
// activations and their gradients are f16; weight gradients are written in f32; the loss kernel
// multiplies its gradient by a dynamic loss scale (read on the device) before rounding it to f16;
// non-finite gradients skip the step (counted in History). The CPU
// runs the same code path with f16 storage (an emulation, for tests; slower than f32 there).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/dataset.h"
#include "nn/layer.h"
#include "nn/layers/batch_norm.h"
#include "nn/layers/conv.h"
#include "nn/layers/core.h"
#include "nn/losses.h"
#include "nn/step_graph.h"
#include "optim/loss_scale.h"
#include "optim/optimizer.h"

namespace tilenet::nn {

class Callback;

// Per-epoch values by name: "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"...
using Logs = std::map<std::string, double>;

struct History {
  std::vector<int> epoch;                               // 0-based epoch indices that ran
  std::map<std::string, std::vector<double>> history;   // loss, metrics, val_* per epoch
  std::vector<double> learning_rate;                    // at the end of each epoch
  std::vector<double> epoch_time_s;                     // wall time of each epoch (training + validation)
  std::vector<std::int64_t> skipped_steps;              // mixed precision: steps skipped for inf/nan
  // history.at(key) with an error naming the known keys.
  const std::vector<double>& operator[](const std::string& key) const;
  std::string to_json() const;
  std::string to_csv() const;
};

struct CompileOptions {
  bool mixed_precision = false;
  optim::LossScaleOptions loss_scale = {};
  // CUDA: replay each full training batch of fit() as a captured CUDA graph (nn/step_graph.h). The
  // results equal the eager steps'. The replayed optimizer step reads its learning rate from a
  // device scalar written before each launch, so schedules and LR callbacks apply as in eager steps.
  bool cuda_graph = false;
};

struct ValidationData {
  Tensor x, y;
};

struct FitOptions {
  std::int64_t batch_size = 32;
  int epochs = 1;
  bool shuffle = true;                  // seeded: the same seed gives the same batches
  double validation_split = 0.0;        // fraction of the LAST samples held out (before shuffling)
  ValidationData validation_data = {};  // used instead of validation_split when x is defined
  int verbose = 1;                      // 0 silent, 1 progress bar, 2 one line per epoch
  std::vector<std::shared_ptr<Callback>> callbacks = {};
  int initial_epoch = 0;                // resume: epochs [initial_epoch, epochs) run
  std::uint64_t seed = 0;               // shuffling and dropout masks
  std::int64_t validation_batch_size = 0;  // 0: batch_size
};

struct EvaluateOptions {
  std::int64_t batch_size = 32;
  int verbose = 0;
};

class Sequential {
 public:
  explicit Sequential(std::string name = "sequential", std::uint64_t seed = 1337);
  ~Sequential();
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;

  // Adds a copy of `layer` (Dense, Conv2D, ...) and returns it. Names default to Keras's: "dense",
  // "dense_1", ... counted per type within the model.
  template <typename L, typename = std::enable_if_t<std::is_base_of_v<Layer, L>>>
  L& add(const L& layer) {
    return static_cast<L&>(add_layer(std::make_unique<L>(layer)));
  }
  Layer& add_layer(std::unique_ptr<Layer> layer);
  // Declares the per-sample input shape; the model builds as soon as it has one.
  void add(const Input& input);

  // Builds every layer for the per-sample input shape, lays out and initialises the flat buffers
  // (seeded: the same seed gives bit-identical weights on CPU and GPU).
  void build(const Shape& input_shape);
  // True once the weights exist (after build(), or lazily at the first compile/fit/summary-free use).
  bool built() const { return built_; }
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const;

  void summary(std::ostream& os) const;
  void summary() const;  // to stdout
  std::string summary_string() const;

  // Moves parameters, optimizer state and data buffers to `device` (cpu or cuda). Default: cpu.
  Sequential& to(Device device);
  Device device() const { return device_; }

  void compile(const optim::Optimizer& optimizer, const Loss& loss, const std::vector<Metric>& metrics = {},
               const CompileOptions& options = {});
  void compile(std::shared_ptr<optim::Optimizer> optimizer, const Loss& loss,
               const std::vector<Metric>& metrics = {}, const CompileOptions& options = {});
  void compile(const std::string& optimizer, const Loss& loss, const std::vector<Metric>& metrics = {},
               const CompileOptions& options = {});
  bool compiled() const { return static_cast<bool>(optimizer_); }

  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  History fit(Dataset train, const FitOptions& options = {});
  Logs evaluate(const Tensor& x, const Tensor& y, const EvaluateOptions& options = {});
  Logs evaluate(Dataset data, const EvaluateOptions& options = {});
  // Outputs f32 [N, output_shape...] on the model's device (probabilities after a softmax).
  Tensor predict(const Tensor& x, std::int64_t batch_size = 32);

  // One optimisation step on one batch (x [B, ...] in the compute dtype or f32, y targets); adds to
  // the running loss/metric sums without reading them (no host sync). metrics() reads and resets.
  // No host sync and no allocation once warm, given x in the compute dtype and i32 labels (or f32
  // targets for the other losses) on the model's device: f32 labels are converted through the host
  // and an f32 x is cast to f16 under mixed precision, each call. fit() does both once.
  void train_on_batch(const Tensor& x, const Tensor& y);
  Logs read_train_metrics(bool reset = true);
  // Forward, loss and backward on one batch without an optimizer step: fills gradients() and
  // returns the mean loss (a host read). For gradient checks and custom training loops.
  double compute_gradients(const Tensor& x, const Tensor& y, bool training = true);

  // Weights: every parameter and state value as "<layer>/<param>" in a safetensors file (atomic write).
  void save_weights(const std::string& path);
  void load_weights(const std::string& path);
  // Training checkpoint for resume: weights, optimizer slots and step, loss-scale state, and the
  // number of epochs completed. load_checkpoint returns that number (the initial_epoch to resume at).
  // Both loads check everything they read before changing anything: a bad file leaves the model
  // (and, for a checkpoint, the optimizer and loss scale) as it was.
  void save_checkpoint(const std::string& path, int epochs_completed);
  int load_checkpoint(const std::string& path);

  std::size_t num_layers() const { return layers_.size(); }
  Layer& layer(std::size_t i);
  Layer& get_layer(const std::string& name);
  std::int64_t count_params(bool trainable_only = false) const;
  // The flat buffers (views of the layers' parameters live inside them).
  Tensor& parameters();
  Tensor& gradients();
  Tensor& state();
  optim::Optimizer& optimizer();
  const Loss& loss() const { return loss_; }
  const MetricPlan& metric_plan() const { return plan_; }
  bool mixed_precision() const { return copts_.mixed_precision; }
  // Training steps run as CUDA graph replays so far (CompileOptions::cuda_graph).
  std::int64_t graph_launches() const { return graph_launches_; }
  optim::LossScaler* loss_scaler() { return scaler_.get(); }
  const std::string& name() const { return name_; }

  // Call after writing parameters() directly: the f16 weight copy is refreshed before the next use.
  void mark_weights_changed() { half_dirty_ = true; }

  // Set by callbacks (EarlyStopping) to end fit() after the current epoch.
  bool stop_training = false;

 private:
  // load_weights' checks: each parameter with the file's tensor for it (nothing changed yet).
  std::vector<std::pair<Param*, Tensor>> read_weights(const std::string& path);
  void apply_weights(const std::vector<std::pair<Param*, Tensor>>& plan);
  friend class TrainLoop;
  void ensure_built(const Shape& sample_shape);
  void ensure_layout();
  void layout(bool init);
  Tensor forward_all(const Tensor& x, bool training);
  void backward_all(const Tensor& dlogits);
  void refresh_half_weights();
  // Sizes the loss buffer for `batch` rows, resolves the metric plan and the fused softmax head;
  // train_batch > 0 also reserves the gradient arena for training batches of that size.
  void prepare_run(std::int64_t batch, const Tensor& targets, std::int64_t train_batch);
  // lr: when defined, the optimizer reads the learning rate from it (optim::StepControl::lr).
  void step(const Tensor& x, const Tensor& y, Tensor& acc, const Tensor& lr = Tensor());
  // step() through a captured CUDA graph when possible (full batches, warm buffers), else eagerly.
  void graph_step(const Tensor& x, const Tensor& y, Tensor& acc);
  std::uint64_t buffer_generation() const;
  void invalidate_graph();
  // Every layer's clear_cache(): after fit/evaluate/predict, so no cached input pins a dataset.
  void clear_layer_caches();
  // Calls clear_layer_caches() when a run ends, also when a callback or a bad batch throws.
  struct CacheClearer {
    Sequential* model;
    ~CacheClearer() { model->clear_layer_caches(); }
  };
  Logs evaluate_batches(Dataset& data, std::int64_t batch_size, const std::string& prefix, int verbose);
  Logs read_logs(const Tensor& acc, const std::string& prefix) const;
  DType compute_dtype() const { return copts_.mixed_precision ? DType::f16 : DType::f32; }
  void require_compiled(const char* op) const;
  // The checks and run set-up train_on_batch and compute_gradients share: x batched and on the
  // model's device, y prepared (prepare_targets) with as many samples; returns the targets.
  Tensor prepare_batch(const Tensor& x, const Tensor& y, const char* op);

  std::string name_;
  std::uint64_t seed_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::map<std::string, int> name_counts_;
  Shape input_shape_;
  bool has_input_shape_ = false;
  bool shapes_ready_ = false;  // every layer built for input_shape_ (summary works)
  bool built_ = false;         // flat buffers laid out and initialised
  Device device_ = Device::cpu();

  Tensor params_, grads_, state_, params_half_;
  bool half_dirty_ = true;
  std::shared_ptr<GradArena> arena_;
  RunState run_;

  std::shared_ptr<optim::Optimizer> optimizer_;
  Loss loss_ = Loss(LossKind::sparse_categorical_crossentropy);
  std::vector<Metric> metrics_;
  CompileOptions copts_;
  std::unique_ptr<optim::LossScaler> scaler_;
  MetricPlan plan_;
  bool fused_head_ = false;  // the last layer hands out logits to the fused softmax cross-entropy
  Tensor losses_;            // f32 [batch capacity]
  Tensor train_acc_;         // running sums for train_on_batch (doubles)
  Tensor fit_acc_;           // fit's per-epoch sums (doubles); persistent so graphs keep its address
  Tensor step_counter_;      // CUDA: the training step counter in device memory (u64)
  bool has_dropout_ = false;
  std::unique_ptr<StepGraph> graph_;
  Tensor stage_x_, stage_y_;     // fixed-address batch copies the captured graph reads
  std::uint64_t last_generation_ = ~0ull;
  bool graph_failed_ = false;    // a capture failed: eager steps until the next fit or compile
  bool graph_failure_said_ = false;  // the notice is printed once per model, not at every fit
  std::int64_t graph_launches_ = 0;
};

}  // namespace tilenet::nn
