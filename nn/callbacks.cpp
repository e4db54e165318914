#include "nn/callbacks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <regex>

#include "nn/io/file_util.h"

namespace tilenet::nn {
namespace {

double get_monitor(const Logs& logs, const std::string& monitor, const char* who, bool& found) {
  auto it = logs.find(monitor);
  found = it != logs.end();
  if (!found) {
    std::string keys;
    for (const auto& [k, v] : logs) keys += (keys.empty() ? "" : ", ") + k;
    std::cerr << who << ": metric '" << monitor << "' is not available; available: " << keys << "\n";
    return 0.0;
  }
  return it->second;
}

}  // namespace

Sequential& Callback::model() const {
  if (!model_) throw ValueError("Callback: not attached to a model (pass it to fit())");
  return *model_;
}

bool monitor_maximises(const std::string& monitor, const std::string& mode, const char* who) {
  if (mode == "max") return true;
  if (mode == "min") return false;
  if (mode != "auto") throw ValueError(std::string(who) + ": mode must be \"auto\", \"min\" or \"max\", got \"" + mode + "\"");
  auto ends_with = [&](const char* s) {
    const std::string t(s);
    return monitor.size() >= t.size() && monitor.compare(monitor.size() - t.size(), t.size(), t) == 0;
  };
  return ends_with("acc") || ends_with("accuracy") || ends_with("auc");
}

void write_file_atomic(const std::string& path, const std::string& text) {
  io::AtomicFileWriter w(path);
  w.write(text.data(), text.size());
  w.commit();
}

// ---------------------------------------------------------------------------------------------
// EarlyStopping

EarlyStopping::EarlyStopping(std::string monitor, double min_delta, int patience, std::string mode,
                             bool restore_best_weights, int verbose, double baseline, int start_from_epoch)
    : monitor_(std::move(monitor)),
      min_delta_(std::fabs(min_delta)),
      patience_(patience),
      maximise_(monitor_maximises(monitor_, mode, "EarlyStopping")),
      restore_(restore_best_weights),
      verbose_(verbose),
      baseline_(baseline),
      start_from_epoch_(start_from_epoch) {
  TILENET_CHECK(patience >= 0, ValueError, "EarlyStopping: patience must be non-negative, got ", patience);
}

bool EarlyStopping::improved(double current, double reference) const {
  return maximise_ ? current - min_delta_ > reference : current + min_delta_ < reference;
}

void EarlyStopping::on_train_begin(const Logs&) {
  wait_ = 0;
  stopped_epoch_ = 0;
  best_epoch_ = 0;
  best_ = maximise_ ? -INFINITY : INFINITY;
  best_params_ = best_state_ = Tensor();
}

void EarlyStopping::on_epoch_end(int epoch, Logs& logs) {
  bool found;
  const double current = get_monitor(logs, monitor_, "EarlyStopping", found);
  if (!found || epoch < start_from_epoch_) return;
  Sequential& m = model();
  auto snapshot = [&]() {
    if (!best_params_.defined()) {
      best_params_ = m.parameters().clone();
      best_state_ = m.state().clone();
    } else {
      best_params_.copy_from(m.parameters());
      best_state_.copy_from(m.state());
    }
  };
  if (restore_ && !best_params_.defined()) snapshot();
  ++wait_;
  if (improved(current, best_)) {
    best_ = current;
    best_epoch_ = epoch;
    if (restore_) snapshot();
    if (std::isnan(baseline_) || improved(current, baseline_)) {
      wait_ = 0;
      return;
    }
  }
  if (wait_ >= patience_ && epoch > 0) {
    stopped_epoch_ = epoch;
    m.stop_training = true;
    if (restore_ && best_params_.defined()) {
      if (verbose_ > 0) std::cout << "Restoring model weights from the end of the best epoch: " << best_epoch_ + 1 << ".\n";
      m.parameters().copy_from(best_params_);
      m.state().copy_from(best_state_);
      m.mark_weights_changed();
    }
  }
}

void EarlyStopping::on_train_end(const Logs&) {
  if (stopped_epoch_ > 0 && verbose_ > 0) std::cout << "Epoch " << stopped_epoch_ + 1 << ": early stopping\n";
}

// ---------------------------------------------------------------------------------------------
// ModelCheckpoint

ModelCheckpoint::ModelCheckpoint(std::string path, std::string monitor, bool save_best_only, bool weights_only,
                                 std::string mode, int verbose)
    : path_(std::move(path)),
      monitor_(std::move(monitor)),
      best_only_(save_best_only),
      weights_only_(weights_only),
      maximise_(monitor_maximises(monitor_, mode, "ModelCheckpoint")),
      verbose_(verbose) {
  TILENET_CHECK(!path_.empty(), ValueError, "ModelCheckpoint: path is empty");
}

void ModelCheckpoint::on_train_begin(const Logs&) { have_best_ = false; }

std::string ModelCheckpoint::path_for(int epoch) const {
  static const std::regex pattern(R"(\{epoch(?::0?(\d+)d)?\})");
  std::string out;
  auto begin = std::sregex_iterator(path_.begin(), path_.end(), pattern);
  std::size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += path_.substr(last, static_cast<std::size_t>(it->position()) - last);
    std::string num = std::to_string(epoch + 1);
    if ((*it)[1].matched) {
      const std::size_t width = static_cast<std::size_t>(std::stoi((*it)[1].str()));
      if (num.size() < width) num = std::string(width - num.size(), '0') + num;
    }
    out += num;
    last = static_cast<std::size_t>(it->position() + it->length());
  }
  return out + path_.substr(last);
}

void ModelCheckpoint::on_epoch_end(int epoch, Logs& logs) {
  Sequential& m = model();
  if (best_only_) {
    bool found;
    const double current = get_monitor(logs, monitor_, "ModelCheckpoint", found);
    if (!found) return;
    const bool better = !have_best_ || (maximise_ ? current > best_ : current < best_);
    if (!better) {
      if (verbose_ > 0)
        std::cout << "Epoch " << epoch + 1 << ": " << monitor_ << " did not improve from " << best_ << "\n";
      return;
    }
    if (verbose_ > 0)
      std::cout << "Epoch " << epoch + 1 << ": " << monitor_ << " improved to " << current << ", saving model to "
                << path_for(epoch) << "\n";
    best_ = current;
    have_best_ = true;
  }
  if (weights_only_)
    m.save_weights(path_for(epoch));
  else
    m.save_checkpoint(path_for(epoch), epoch + 1);
}

// ---------------------------------------------------------------------------------------------
// LearningRateScheduler

LearningRateScheduler::LearningRateScheduler(std::function<double(int, double)> schedule, int verbose)
    : schedule_(std::move(schedule)), verbose_(verbose) {
  TILENET_CHECK(static_cast<bool>(schedule_), ValueError, "LearningRateScheduler: schedule is empty");
}

void LearningRateScheduler::on_epoch_begin(int epoch, const Logs&) {
  optim::Optimizer& opt = model().optimizer();
  const double lr = schedule_(epoch, opt.learning_rate());
  TILENET_CHECK(std::isfinite(lr) && lr >= 0.0, ValueError, "LearningRateScheduler: schedule returned ", lr,
                " for epoch ", epoch);
  opt.set_learning_rate(static_cast<float>(lr));
  if (verbose_ > 0)
    std::cout << "\nEpoch " << epoch + 1 << ": LearningRateScheduler setting learning rate to " << lr << ".\n";
}

void LearningRateScheduler::on_epoch_end(int, Logs& logs) {
  logs["learning_rate"] = model().optimizer().learning_rate();
}

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(std::string monitor, double factor, int patience, std::string mode,
                                     double min_delta, int cooldown, double min_lr, int verbose)
    : monitor_(std::move(monitor)),
      factor_(factor),
      patience_(patience),
      maximise_(monitor_maximises(monitor_, mode, "ReduceLROnPlateau")),
      min_delta_(min_delta),
      cooldown_(cooldown),
      min_lr_(min_lr),
      verbose_(verbose) {
  TILENET_CHECK(factor > 0.0 && factor < 1.0, ValueError, "ReduceLROnPlateau: factor must be in (0, 1), got ", factor);
  TILENET_CHECK(patience >= 0 && cooldown >= 0 && min_lr >= 0.0, ValueError,
                "ReduceLROnPlateau: patience, cooldown and min_lr must be non-negative");
}

void ReduceLROnPlateau::on_train_begin(const Logs&) {
  best_ = maximise_ ? -INFINITY : INFINITY;
  wait_ = 0;
  cooldown_counter_ = 0;
}

void ReduceLROnPlateau::on_epoch_end(int epoch, Logs& logs) {
  optim::Optimizer& opt = model().optimizer();
  logs["learning_rate"] = opt.learning_rate();
  bool found;
  const double current = get_monitor(logs, monitor_, "ReduceLROnPlateau", found);
  if (!found) return;
  const bool in_cooldown = cooldown_counter_ > 0;
  if (in_cooldown) {
    --cooldown_counter_;
    wait_ = 0;
  }
  const bool better = maximise_ ? current > best_ + min_delta_ : current < best_ - min_delta_;
  if (better) {
    best_ = current;
    wait_ = 0;
  } else if (cooldown_counter_ <= 0) {
    if (++wait_ >= patience_) {
      const double old_lr = opt.learning_rate();
      if (old_lr > min_lr_) {
        const double new_lr = std::max(old_lr * factor_, min_lr_);
        opt.set_learning_rate(static_cast<float>(new_lr));
        if (verbose_ > 0)
          std::cout << "\nEpoch " << epoch + 1 << ": ReduceLROnPlateau reducing learning rate to " << new_lr << ".\n";
        cooldown_counter_ = cooldown_;
        wait_ = 0;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CSVLogger and JSONHistoryWriter

CSVLogger::CSVLogger(std::string path, char separator, bool append) : path_(std::move(path)), sep_(separator), append_(append) {}

void CSVLogger::on_train_begin(const Logs&) {
  header_written_ = append_ && io::file_exists(path_);  // an earlier run wrote the header
  out_.open(path_, append_ ? std::ios::app : std::ios::trunc);
  if (!out_) throw IoError("CSVLogger: cannot open " + path_ + " for writing");
  keys_.clear();
}

void CSVLogger::on_epoch_end(int epoch, Logs& logs) {
  if (keys_.empty())
    for (const auto& [k, v] : logs) keys_.push_back(k);
  if (!header_written_) {
    out_ << "epoch";
    for (const auto& k : keys_) out_ << sep_ << k;
    out_ << "\n";
    header_written_ = true;
  }
  out_ << epoch;
  char buf[64];
  for (const auto& k : keys_) {
    auto it = logs.find(k);
    out_ << sep_;
    if (it != logs.end()) {
      std::snprintf(buf, sizeof buf, "%.17g", it->second);
      out_ << buf;
    }
  }
  out_ << "\n";
  out_.flush();
  if (!out_) throw IoError("CSVLogger: writing " + path_ + " failed");
}

void CSVLogger::on_train_end(const Logs&) { out_.close(); }

JSONHistoryWriter::JSONHistoryWriter(std::string path) : path_(std::move(path)) {}

void JSONHistoryWriter::on_train_begin(const Logs&) { h_ = History(); }

void JSONHistoryWriter::on_epoch_end(int epoch, Logs& logs) {
  h_.epoch.push_back(epoch);
  for (const auto& [k, v] : logs) {
    if (k == "learning_rate")
      h_.learning_rate.push_back(v);
    else
      h_.history[k].push_back(v);
  }
  write_file_atomic(path_, h_.to_json());
}

}  // namespace tilenet::nn
