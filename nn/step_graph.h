// A training step captured as a CUDA graph and replayed: one graph launch instead of ~20 kernel
// launches per step, so small models (the MNIST MLP) stop being bound by launch overhead.
//
// Capture is attempted only after a step that allocated nothing (every buffer warm), and a capture
// is thrown away when the captured step allocated device memory (a pointer the graph would bake
// but the cache could hand to someone else), when any call failed under capture, or when nothing
// was captured; the caller then runs the step eagerly. A graph is replayed only while its key
// (batch, buffer generation, accumulator) is unchanged. The learning rate is not part of it: the
// captured optimizer step reads it from a device scalar written before every launch
// (optim::Optimizer::stage_learning_rate), so per-step schedules keep one graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>

namespace tilenet::nn {

struct StepGraphKey {
  std::int64_t batch = 0;
  std::uint64_t generation = 0;
  const void* acc = nullptr;
  const void* lr = nullptr;  // the device scalar the captured step reads its learning rate from
  std::uint64_t optimizer_config = 0;  // Optimizer::config_version(): clipnorm, hypers, loaded state
  bool operator==(const StepGraphKey& o) const {
    return batch == o.batch && generation == o.generation && acc == o.acc && lr == o.lr &&
           optimizer_config == o.optimizer_config;
  }
};

class StepGraph {
 public:
  StepGraph() = default;
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  void reset();
  bool ready() const { return exec_ != nullptr; }
  const StepGraphKey& key() const { return key_; }
  // Captures the work `step` queues on `stream` (which does NOT run). True when a usable graph was
  // instantiated; false otherwise (the step's work must then be run eagerly). Exceptions thrown
  // by `step` end the capture and are swallowed into `false`.
  bool capture(cudaStream_t stream, const StepGraphKey& key, const std::function<void()>& step);
  void launch(cudaStream_t stream);

 private:
  cudaGraphExec_t exec_ = nullptr;
  StepGraphKey key_;
};

}  // namespace tilenet::nn
