// Optimizer state + epoch for resuming training, saved as a safetensors file beside the weights:
// tensors "optimizer/<entry>" from Optimizer::state(), metadata {"format":
// "tilenet.training_state", "version": "1", "optimizer": name(), "epoch": "<n>"} plus the caller's
// own keys. Written atomically like every safetensors save.
//
//   save_safetensors("ckpt/model.safetensors", model_weights);
//   save_training_state(training_state_path("ckpt/model.safetensors"), optimizer, epoch);
//   ...
//   int64_t next_epoch = load_training_state(training_state_path(...), optimizer).epoch;
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/io/safetensors.h"
#include "optim/optimizer.h"

namespace tilenet::nn::io {

struct TrainingState {
  std::int64_t epoch = 0;  // the number of epochs completed: fit(initial_epoch = epoch) resumes
  Metadata metadata;       // everything in the file's metadata, the keys above included
};

// "dir/model.safetensors" -> "dir/model.training_state.safetensors" (any other name: + ".training_state").
std::string training_state_path(const std::string& weights_path);

void save_training_state(const std::string& path, const optim::Optimizer& optimizer, std::int64_t epoch,
                         const Metadata& extra = {});
// Restores the optimizer's state. IoError for a file that is not a training state (or is corrupt),
// ValueError when it was written by another kind of optimizer, ValueError/ShapeError from
// Optimizer::load_state when the entries do not fit this optimizer.
TrainingState load_training_state(const std::string& path, optim::Optimizer& optimizer);

// The file's contents, read and checked (format, version, epoch, optimizer name) without touching
// an optimizer: for callers that validate more before changing anything (Sequential::load_checkpoint).
// load_training_state is this plus optimizer.load_state(entries).
struct TrainingStateContents {
  TrainingState state;
  std::vector<std::pair<std::string, Tensor>> entries;  // Optimizer::state() names, "optimizer/" removed
};
TrainingStateContents read_training_state(const std::string& path, const std::string& optimizer_name);

}  // namespace tilenet::nn::io
