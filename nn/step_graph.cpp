#include "nn/step_graph.h"

#include <iostream>

#include "kernels/gemm.h"
#include "nn/sequential.h"
#include "tensor/error.h"
#include "tensor/memory.h"
#include "tensor/stream.h"

namespace tilenet::nn {

StepGraph::~StepGraph() { reset(); }

void StepGraph::reset() {
  if (exec_) cudaGraphExecDestroy(exec_);
  exec_ = nullptr;
  key_ = StepGraphKey{};
}

bool StepGraph::capture(cudaStream_t stream, const StepGraphKey& key, const std::function<void()>& step) {
  reset();
  // This thread's counts: allocations or frees by other threads during the capture are not baked
  // into it. A block freed under capture could be handed out again while the graph still uses it.
  const std::uint64_t allocs_before = memory::thread_allocations();
  const std::uint64_t frees_before = memory::thread_deallocations();
  // Thread-local mode: other threads' unsafe calls do not invalidate this capture.
  if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  bool ok = true;
  try {
    step();
  } catch (...) {  // whatever it was, the capture must be ended before the stream is usable again
    ok = false;
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (end != cudaSuccess) ok = false;
  cudaGetLastError();  // a failed capture leaves an error in the last-error slot, not a sticky one
  std::size_t nodes = 0;
  if (ok && graph && cudaGraphGetNodes(graph, nullptr, &nodes) != cudaSuccess) ok = false;
  if (memory::thread_allocations() != allocs_before || memory::thread_deallocations() != frees_before || nodes == 0)
    ok = false;
  if (ok && graph && cudaGraphInstantiate(&exec_, graph, 0) != cudaSuccess) {
    cudaGetLastError();
    exec_ = nullptr;
    ok = false;
  }
  if (graph) cudaGraphDestroy(graph);
  if (!ok) {
    reset();
    return false;
  }
  key_ = key;
  return true;
}

void StepGraph::launch(cudaStream_t stream) {
  TILENET_CHECK(exec_ != nullptr, ValueError, "StepGraph::launch: no graph captured");
  TILENET_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
}

// ---------------------------------------------------------------------------------------------
// Sequential::graph_step

std::uint64_t Sequential::buffer_generation() const { return run_.buffer_generation + arena_->generation(); }

void Sequential::graph_step(const Tensor& x, const Tensor& y, Tensor& acc) {
  const std::uint64_t gen = buffer_generation();
  const bool warm = gen == last_generation_;  // the previous step allocated nothing
  last_generation_ = gen;
  if (graph_failed_ || !warm) {
    step(x, y, acc);
    last_generation_ = buffer_generation();
    return;
  }
  cudaStream_t stream = cuda::current_stream(device_.index);
  if (!stage_x_.defined() || stage_x_.shape() != x.shape() || stage_x_.dtype() != x.dtype() ||
      stage_y_.shape() != y.shape() || stage_y_.dtype() != y.dtype()) {
    stage_x_ = Tensor::empty(x.shape(), x.dtype(), device_);
    stage_y_ = Tensor::empty(y.shape(), y.dtype(), device_);
    if (graph_) graph_->reset();
  }
  stage_x_.copy_from(x);  // device to device, queued: no host wait
  stage_y_.copy_from(y);
  // This step's learning rate (the schedule's), written to the device scalar the graph reads.
  const Tensor lr = optimizer_->stage_learning_rate(device_);
  const StepGraphKey key{x.dim(0), gen, acc.raw_data(), lr.raw_data(), optimizer_->config_version()};
  if (!graph_) graph_ = std::make_unique<StepGraph>();
  if (!graph_->ready() || !(graph_->key() == key)) {
    half_dirty_ = true;  // the captured step must refresh the f16 weights every replay
    const std::uint64_t host_step = run_.step;
    const std::int64_t iterations = optimizer_->iterations();
    optimizer_->prepare(params_);  // its state must exist before the capture, not be made inside it
    kernels::gemm_settle_auto(stream);  // the wgmma self-check cannot run inside the capture
    // The capture ran step()'s host code once (the optimizer counted this step there).
    const bool ok = graph_->capture(stream, key, [&] { step(stage_x_, stage_y_, acc, lr); });
    run_.step = host_step;
    if (!ok) {
      graph_failed_ = true;
      if (!graph_failure_said_)
        std::cerr << "tilenet: CUDA graph capture of the training step failed; running steps eagerly "
                     "(tried again at each fit; this notice is not repeated)\n";
      graph_failure_said_ = true;
      // The capture's host code may have counted this step; the eager run below counts it.
      while (optimizer_->iterations() > iterations) optimizer_->uncount_step();
      // A step that threw under capture may have cleared half_dirty_ in refresh_half_weights()
      // although the captured cast never ran: the eager run must refresh the f16 weights itself.
      half_dirty_ = true;
      step(x, y, acc, lr);
      return;
    }
  } else {
    // A replay without capture: step() did not run, so the optimizer's host iteration count must be
    // advanced here, or a checkpoint saved after a graph fit (iterations < applied steps) fails to load.
    optimizer_->count_replayed_step();
  }
  graph_->launch(stream);
  ++graph_launches_;
  half_dirty_ = true;
  ++run_.step;
}

}  // namespace tilenet::nn
