#include "nn/io/training_state.h"

#include "nn/io/json.h"

namespace tilenet::nn::io {
namespace {

constexpr const char* kFormat = "tilenet.training_state";
constexpr const char* kPrefix = "optimizer/";

}  // namespace

std::string training_state_path(const std::string& weights_path) {
  const std::string ext = ".safetensors";
  if (weights_path.size() > ext.size() && weights_path.compare(weights_path.size() - ext.size(), ext.size(), ext) == 0)
    return weights_path.substr(0, weights_path.size() - ext.size()) + ".training_state" + ext;
  return weights_path + ".training_state";
}

void save_training_state(const std::string& path, const optim::Optimizer& optimizer, std::int64_t epoch,
                         const Metadata& extra) {
  TILENET_CHECK(epoch >= 0, ValueError, "save_training_state: epoch must be >= 0, got ", epoch);
  NamedTensors tensors;
  for (auto& [k, t] : optimizer.state()) tensors.emplace_back(kPrefix + k, t);
  Metadata meta = extra;
  meta["format"] = kFormat;
  meta["version"] = "1";
  meta["optimizer"] = optimizer.name();
  meta["epoch"] = std::to_string(epoch);
  if (optimizer.schedule()) meta["schedule"] = optimizer.schedule()->describe();
  save_safetensors(path, tensors, meta);
}

TrainingState load_training_state(const std::string& path, optim::Optimizer& optimizer) {
  TrainingStateContents c = read_training_state(path, optimizer.name());
  optimizer.load_state(c.entries);
  return std::move(c.state);
}

TrainingStateContents read_training_state(const std::string& path, const std::string& optimizer_name) {
  SafetensorsContents c = load_safetensors(path);
  auto get = [&](const char* key) -> const std::string& {
    auto it = c.metadata.find(key);
    if (it == c.metadata.end())
      throw IoError(path + ": not a tilenet training state (metadata has no \"" + key + "\")");
    return it->second;
  };
  if (get("format") != kFormat)
    throw IoError(path + ": metadata format is " + quote_for_message(get("format")) + ", expected \"" + kFormat + "\"");
  if (get("version") != "1")
    throw IoError(path + ": training state version " + quote_for_message(get("version")) + " is not supported (expected 1)");
  const std::string& e = get("epoch");
  std::int64_t epoch = 0;
  bool ok = !e.empty() && e.size() <= 18;
  for (char ch : e) ok = ok && ch >= '0' && ch <= '9';
  if (!ok) throw IoError(path + ": epoch " + quote_for_message(e) + " is not a non-negative integer");
  for (char ch : e) epoch = epoch * 10 + (ch - '0');
  if (get("optimizer") != optimizer_name)
    throw ValueError(path + ": the training state was written by " + quote_for_message(get("optimizer")) +
                     " but the optimizer is " + optimizer_name);
  std::vector<std::pair<std::string, Tensor>> state;
  for (auto& [k, t] : c.tensors) {
    if (k.rfind(kPrefix, 0) != 0)
      throw IoError(path + ": unexpected tensor " + quote_for_message(k) + " (entries start with \"optimizer/\")");
    state.emplace_back(k.substr(std::char_traits<char>::length(kPrefix)), std::move(t));
  }
  return {{epoch, std::move(c.metadata)}, std::move(state)};
}

}  // namespace tilenet::nn::io
