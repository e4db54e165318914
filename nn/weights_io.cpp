// Sequential: weights and training checkpoints as safetensors files (nn/io underneath: atomic
// writes, strict validation on read).
//   weights:    "<layer>/<param>" f32 tensors, e.g. "dense_1/kernel" [512, 10], "dense_1/bias" [10],
//               "batch_normalization/moving_mean" [C]; metadata {"format": "tilenet.weights", "model"}.
//   checkpoint: the weights file at `path` plus a training-state file beside it
//               (io::training_state_path): optimizer slots and step counters, the number of epochs
//               completed, and the mixed-precision loss scale.
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "nn/io/safetensors.h"
#include "nn/io/training_state.h"
#include "nn/sequential.h"

namespace tilenet::nn {

void Sequential::save_weights(const std::string& path) {
  ensure_layout();
  io::NamedTensors named;
  for (const auto& l : layers_)
    for (const Param& p : l->params()) named.emplace_back(l->name() + "/" + p.name, p.value);
  io::save_safetensors(path, named, {{"format", "tilenet.weights"}, {"model", name_}});
}

void Sequential::load_weights(const std::string& path) { apply_weights(read_weights(path)); }

std::vector<std::pair<Param*, Tensor>> Sequential::read_weights(const std::string& path) {
  ensure_layout();
  io::SafetensorsContents file = io::load_safetensors(path);
  std::map<std::string, Tensor> by_name;
  for (auto& [k, t] : file.tensors) by_name[k] = t;
  // Validate everything before changing anything.
  std::vector<std::pair<Param*, Tensor>> plan;
  for (auto& l : layers_)
    for (Param& p : l->params()) {
      const std::string key = l->name() + "/" + p.name;
      auto it = by_name.find(key);
      if (it == by_name.end())
        throw ValueError("load_weights: " + path + " has no tensor '" + key + "' (" + l->label() + ")");
      if (it->second.dtype() != DType::f32)
        throw DtypeError("load_weights: " + path + ": '" + key + "' is " + dtype_name(it->second.dtype()) +
                         ", expected f32");
      if (it->second.shape() != p.shape)
        throw ShapeError("load_weights: " + path + ": '" + key + "' has shape " + it->second.shape().str() +
                         ", the model expects " + p.shape.str());
      plan.emplace_back(&p, it->second);
      by_name.erase(it);
    }
  if (!by_name.empty())
    throw ValueError("load_weights: " + path + " has " + std::to_string(by_name.size()) +
                     " tensor(s) the model does not, e.g. '" + by_name.begin()->first + "'");
  return plan;
}

void Sequential::apply_weights(const std::vector<std::pair<Param*, Tensor>>& plan) {
  for (const auto& [p, t] : plan) p->value.copy_from(t);
  half_dirty_ = true;
}

void Sequential::save_checkpoint(const std::string& path, int epochs_completed) {
  if (!optimizer_) throw ValueError("save_checkpoint: model '" + name_ + "' is not compiled");
  save_weights(path);
  io::Metadata extra{{"model", name_}};
  if (scaler_) {
    std::ostringstream s;
    s.precision(9);
    s << scaler_->current_scale();
    extra["loss_scale"] = s.str();
    extra["loss_scale_good_steps"] = std::to_string(scaler_->good_steps());
  }
  io::save_training_state(io::training_state_path(path), *optimizer_, epochs_completed, extra);
}

int Sequential::load_checkpoint(const std::string& path) {
  require_compiled("load_checkpoint");
  // Read and check everything first (weights, optimizer state, loss scale), then apply: a bad
  // file anywhere leaves the model, the optimizer and the scaler as they were.
  const auto weights = read_weights(path);
  const std::string state_path = io::training_state_path(path);
  const io::TrainingStateContents st = io::read_training_state(state_path, optimizer_->name());
  const io::Metadata& meta = st.state.metadata;
  const auto it = meta.find("loss_scale");
  const bool restore_scale = scaler_ && it != meta.end();
  float scale = 0.0f;
  std::int64_t good = 0;  // older checkpoints have no count of clean steps: the doubling count starts over
  if (restore_scale) {
    char* end = nullptr;
    scale = std::strtof(it->second.c_str(), &end);
    TILENET_CHECK(!it->second.empty() && end && *end == '\0' && std::isfinite(scale) && scale > 0.0f, ValueError,
                  "load_checkpoint: bad loss_scale '", it->second, "' in ", state_path,
                  ", expected a finite number > 0");
    const auto g = meta.find("loss_scale_good_steps");
    if (g != meta.end()) {
      end = nullptr;
      good = std::strtoll(g->second.c_str(), &end, 10);
      TILENET_CHECK(!g->second.empty() && end && *end == '\0' && good >= 0, ValueError,
                    "load_checkpoint: bad loss_scale_good_steps '", g->second, "' in ", state_path,
                    ", expected an integer >= 0");
    }
  }
  optimizer_->load_state(st.entries);  // checks the entries before changing anything
  apply_weights(weights);
  if (restore_scale) scaler_->restore(scale, good);
  return static_cast<int>(st.state.epoch);
}

}  // namespace tilenet::nn
