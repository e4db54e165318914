// Sequential: the training step, fit, evaluate, predict.
//
// Host work per training batch: one launch per layer op (fused epilogues), the loss, the metric
// accumulation, the optimizer (plus the finite check and the scale update under mixed precision).
// Nothing reads device memory inside an epoch except the progress refresh on a terminal (at most
// every 0.5 s); every buffer is preallocated for the largest batch, so steady steps allocate nothing.
#include <iostream>

#include "kernels/elementwise.h"
#include "kernels/train_ops.h"
#include "nn/callbacks.h"
#include "nn/progress.h"
#include "nn/run_util.h"
#include "tensor/stream.h"

namespace tilenet::nn {

using detail::make_accumulator;
using detail::read_accumulator;
using detail::sample_shape;
using detail::to_values;
using detail::zero_accumulator;

Logs Sequential::read_logs(const Tensor& acc, const std::string& prefix) const {
  const std::vector<double> a = read_accumulator(acc);
  Logs logs;
  const double n = a[1] > 0 ? a[1] : 1.0;
  logs[prefix + "loss"] = a[0] / n;
  for (std::size_t j = 0; j < plan_.names.size(); ++j) logs[prefix + plan_.names[j]] = a[2 + j] / n;
  return logs;
}

Tensor Sequential::forward_all(const Tensor& x, bool training) {
  refresh_half_weights();
  Tensor h = x;
  for (auto& l : layers_) h = l->forward(h, training);
  return h;
}

void Sequential::backward_all(const Tensor& dlogits) {
  // Layers below the first trainable one need no backward at all.
  std::size_t first = layers_.size();
  for (std::size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i]->count_params(true) > 0) {
      first = i;
      break;
    }
  Tensor g = dlogits;
  for (std::size_t i = layers_.size(); i-- > first;) g = layers_[i]->backward(g);
}

void Sequential::prepare_run(std::int64_t batch, const Tensor& targets, std::int64_t train_batch) {
  plan_ = plan_metrics(metrics_, loss_, targets, output_shape());
  fused_head_ = loss_.is_crossentropy() && !loss_.from_logits && !layers_.empty() &&
                layers_.back()->has_softmax_output();
  if (!losses_.defined() || losses_.numel() < batch || losses_.device() != device_) {
    losses_ = Tensor::empty({batch}, DType::f32, device_);
    invalidate_graph();
  }
  has_dropout_ = false;
  for (auto& l : layers_) has_dropout_ = has_dropout_ || dynamic_cast<Dropout*>(l.get()) != nullptr;
  if (device_.is_cuda() && !step_counter_.defined()) {
    // u64 in two i32 words, starting where the host counter stands.
    const std::uint64_t v = run_.step;
    step_counter_ = Tensor::from_ints({static_cast<std::int32_t>(v & 0xffffffffu), static_cast<std::int32_t>(v >> 32)},
                                      {2}, device_);
    run_.device_step = static_cast<const std::uint64_t*>(step_counter_.raw_data());
  }
  // Activation gradients exist only in training: size the arena for the training batch alone.
  if (train_batch > 0) {
    std::int64_t elems = input_shape_.numel();
    for (auto& l : layers_) elems = std::max(elems, l->max_activation_elems());
    arena_->reserve(elems * train_batch, compute_dtype(), device_);
  }
  if (copts_.mixed_precision && !scaler_) scaler_ = std::make_unique<optim::LossScaler>(device_, copts_.loss_scale);
}

void Sequential::step(const Tensor& x, const Tensor& y, Tensor& acc, const Tensor& lr) {
  const std::int64_t batch = x.dim(0);
  const bool logits = fused_head_ || loss_.from_logits;
  if (!layers_.empty()) layers_.back()->set_emit_logits(fused_head_);
  const Tensor out = forward_all(x, true);
  Tensor losses = losses_.slice(0, batch);
  Tensor dout = arena_->take(Tensor(), out.shape(), out.dtype(), device_);
  // Under mixed precision the loss kernel multiplies by the device-side loss scale before it rounds
  // the gradient to f16 (scaling the f16 gradient afterwards would let small ones underflow first).
  compute_loss(loss_, out, logits, y, losses, dout, 1.0f / static_cast<float>(batch),
               scaler_ ? scaler_->scale() : Tensor());
  accumulate_metrics(plan_, out, logits, y, losses, acc);
  backward_all(dout);
  if (params_.numel() > 0) {
    optim::StepControl control;
    if (scaler_) {
      scaler_->check(grads_);
      control = scaler_->control();
    }
    control.lr = lr;
    optimizer_->step(params_, grads_, control);
    if (scaler_) scaler_->update();
  }
  if (has_dropout_ && step_counter_.defined())
    kernels::advance_step_counter(static_cast<std::uint64_t*>(step_counter_.raw_data()),
                                  cuda::current_stream(device_.index));
  half_dirty_ = true;
  ++run_.step;
}

Tensor Sequential::prepare_batch(const Tensor& x, const Tensor& y, const char* op) {
  require_compiled(op);
  check_defined(x, op, "x");
  TILENET_CHECK(x.ndim() >= 1, ShapeError, op, ": x needs a batch dimension, got ", x.shape().str());
  ensure_built(sample_shape(x));
  Tensor targets = prepare_targets(loss_, y, output_shape(), op);
  TILENET_CHECK(targets.dim(0) == x.dim(0), ShapeError, op, ": x has ", x.dim(0), " samples, y ", targets.dim(0));
  // The kernels take raw pointers: data on another device would be a fault, not an error.
  TILENET_CHECK(x.device() == device_ && targets.device() == device_, DeviceError, op, ": x is on ",
                x.device().str(), " and y on ", targets.device().str(), ", the model on ", device_.str());
  prepare_run(x.dim(0), targets, x.dim(0));
  return targets;
}

void Sequential::train_on_batch(const Tensor& x, const Tensor& y) {
  const Tensor targets = prepare_batch(x, y, "train_on_batch");
  if (!train_acc_.defined()) train_acc_ = make_accumulator(2 + kernels::kMaxMetrics, device_);
  step(x.dtype() == compute_dtype() ? x : x.to(compute_dtype()), targets, train_acc_);
}

double Sequential::compute_gradients(const Tensor& x, const Tensor& y, bool training) {
  const Tensor targets = prepare_batch(x, y, "compute_gradients");
  const bool logits = fused_head_ || loss_.from_logits;
  if (!layers_.empty()) layers_.back()->set_emit_logits(fused_head_);
  const Tensor out = forward_all(x.dtype() == compute_dtype() ? x : x.to(compute_dtype()), training);
  Tensor losses = losses_.slice(0, x.dim(0));
  Tensor dout = arena_->take(Tensor(), out.shape(), out.dtype(), device_);
  compute_loss(loss_, out, logits, targets, losses, dout, 1.0f / static_cast<float>(x.dim(0)));
  backward_all(dout);
  const std::vector<float> l = losses.to_vector();
  double sum = 0.0;
  for (float v : l) sum += v;
  return sum / static_cast<double>(l.size());
}

Logs Sequential::read_train_metrics(bool reset) {
  if (!train_acc_.defined()) return {};
  Logs logs = read_logs(train_acc_, "");
  if (reset) zero_accumulator(train_acc_);
  return logs;
}

History Sequential::fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  return fit(Dataset(x, y), options);
}

History Sequential::fit(Dataset train, const FitOptions& o) {
  require_compiled("fit");
  const CacheClearer clear_caches_at_exit{this};
  TILENET_CHECK(o.batch_size >= 1, ValueError, "fit: batch_size must be positive, got ", o.batch_size);
  TILENET_CHECK(o.initial_epoch >= 0 && o.epochs >= 0, ValueError, "fit: epochs (", o.epochs, ") and initial_epoch (",
                o.initial_epoch, ") must be non-negative");
  TILENET_CHECK(o.validation_split >= 0.0 && o.validation_split < 1.0, ValueError,
                "fit: validation_split must be in [0, 1), got ", o.validation_split);
  TILENET_CHECK(o.verbose >= 0 && o.verbose <= 2, ValueError, "fit: verbose must be 0, 1 or 2, got ", o.verbose);
  TILENET_CHECK(train.size() > 0, ValueError, "fit: no training samples");
  TILENET_CHECK(train.y().defined(), ValueError, "fit: targets y are required");
  ensure_built(sample_shape(train.x()));

  Dataset val;
  bool has_val = false;
  if (o.validation_data.x.defined()) {
    val = Dataset(o.validation_data.x, prepare_targets(loss_, o.validation_data.y, output_shape(), "fit (validation_data)", true));
    ensure_built(sample_shape(val.x()));
    has_val = true;
  }
  train = Dataset(train.x(), prepare_targets(loss_, train.y(), output_shape(), "fit", true));
  if (!has_val && o.validation_split > 0.0) {
    // Keras: split_at = int(N * (1 - validation_split)); the samples after it validate.
    const std::int64_t n = train.size();
    const std::int64_t split_at = static_cast<std::int64_t>(static_cast<double>(n) * (1.0 - o.validation_split));
    TILENET_CHECK(split_at > 0 && split_at < n, ValueError, "fit: validation_split ", o.validation_split, " of ", n,
                  " samples leaves an empty training or validation set");
    val = train.split_tail(n - split_at);
    has_val = true;
  }
  train.to(device_);
  if (has_val) val.to(device_);
  const std::int64_t vbs = o.validation_batch_size > 0 ? o.validation_batch_size : o.batch_size;
  const std::int64_t train_batch = std::min(o.batch_size, train.size());
  prepare_run(std::max(train_batch, has_val ? std::min(vbs, val.size()) : 0), train.y(), train_batch);

  History h;
  if (!fit_acc_.defined()) fit_acc_ = make_accumulator(2 + kernels::kMaxMetrics, device_);
  Tensor acc = fit_acc_;
  // Graph steps read the learning rate from device memory, so schedules and LR callbacks apply.
  const bool graphs = copts_.cuda_graph && device_.is_cuda();
  // A graph bakes in host values its key does not cover (the dropout seed, o.seed): capture afresh,
  // and give graphs another try if a capture failed in an earlier fit (e.g. out of memory).
  invalidate_graph();
  graph_failed_ = false;
  for (auto& cb : o.callbacks) cb->set_model(this);
  stop_training = false;
  for (auto& cb : o.callbacks) cb->on_train_begin({});
  const bool tty = stdout_is_terminal();
  std::vector<std::string> order{"loss"};
  for (const std::string& n : plan_.names) order.push_back(n);
  std::vector<std::string> full_order = order;
  for (const std::string& n : order) full_order.push_back("val_" + n);
  const std::int64_t nb = train.num_batches(o.batch_size);
  std::int64_t skipped_before = scaler_ ? scaler_->skipped_steps() : 0;
  run_.seed = o.seed;

  for (int epoch = o.initial_epoch; epoch < o.epochs; ++epoch) {
    for (auto& cb : o.callbacks) cb->on_epoch_begin(epoch, {});
    if (o.verbose > 0) std::cout << "Epoch " << epoch + 1 << "/" << o.epochs << "\n" << std::flush;
    Progbar bar(nb, o.verbose, std::cout, tty);
    train.begin_epoch(o.shuffle, o.seed, epoch, compute_dtype());
    zero_accumulator(acc);
    const std::uint64_t first_step = static_cast<std::uint64_t>(epoch) * static_cast<std::uint64_t>(nb);
    if (step_counter_.defined())
      kernels::set_step_counter(static_cast<std::uint64_t*>(step_counter_.raw_data()), first_step,
                                cuda::current_stream(device_.index));
    for (std::int64_t b = 0; b < nb; ++b) {
      for (auto& cb : o.callbacks) cb->on_train_batch_begin(b);
      run_.step = first_step + static_cast<std::uint64_t>(b);
      auto [xb, yb] = train.batch(b, o.batch_size);
      if (graphs && xb.dim(0) == o.batch_size)
        graph_step(xb, yb, acc);
      else
        step(xb, yb, acc);
      for (auto& cb : o.callbacks) cb->on_train_batch_end(b);
      if (b + 1 < nb && bar.refresh_due()) bar.update(b + 1, to_values(read_logs(acc, ""), order));
    }
    Logs logs = read_logs(acc, "");
    if (has_val) {
      Logs v = evaluate_batches(val, vbs, "val_", 0);
      logs.insert(v.begin(), v.end());
    }
    logs["learning_rate"] = optimizer_->learning_rate();
    const double seconds = bar.elapsed_s();
    bar.finish(to_values(logs, full_order));
    const std::int64_t skipped_now = scaler_ ? scaler_->skipped_steps() : 0;
    h.epoch.push_back(epoch);
    for (const auto& [k, v] : logs)
      if (k != "learning_rate") h.history[k].push_back(v);
    h.learning_rate.push_back(optimizer_->learning_rate());
    h.epoch_time_s.push_back(seconds);
    h.skipped_steps.push_back(skipped_now - skipped_before);
    skipped_before = skipped_now;
    for (auto& cb : o.callbacks) cb->on_epoch_end(epoch, logs);
    if (stop_training) break;
  }
  Logs last;
  for (const auto& [k, v] : h.history) last[k] = v.back();
  for (auto& cb : o.callbacks) cb->on_train_end(last);
  return h;
}

}  // namespace tilenet::nn
