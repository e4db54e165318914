// The layer contract of tilenet's Keras-like API.
//
// Life of a layer inside a model (nn/sequential.h drives it):
//  1. build(input_shape): the per-sample input shape (no batch dimension) is validated and recorded,
//     the output shape is computed and the parameters are DECLARED (name, shape, initialiser).
//  2. The model lays every declared parameter out in ONE flat f32 parameter buffer (trainable
//     parameters), ONE flat f32 gradient buffer of the same layout, and one flat f32 state buffer
//     (non-trainable values such as batch-norm moving statistics). Param::value and Param::grad
//     become views into those buffers, so an optimizer step is one fused launch over the model.
//     Under mixed precision Param::half_value is a view into the model's f16 copy of the weights.
//  3. forward(x, training): x is [batch, input_shape...]; anything else throws ShapeError naming the
//     layer, what it got and what it expected. It returns a view of a buffer the layer owns (valid
//     until the layer's next forward) and caches what backward needs.
//  4. backward(dy): dy is the gradient of the loss with respect to the last forward's output. It
//     returns dx (undefined when the model said the input gradient is not needed: the first layer).
//
// PARAMETER GRADIENTS ARE OVERWRITTEN by backward, never accumulated: each step's backward writes
// every gradient of the layer (the GEMM/conv weight gradients with beta = 0, the bias gradients with
// accumulate = false), so the model never zeroes the gradient buffer.
//
// Compute dtype follows the input: an f32 input uses the f32 master weights, an f16 input (mixed
// precision) the f16 weight copy; biases and batch-norm parameters stay f32 (the kernels take them
// as f32), and weight gradients are always written in f32.
//
// Scratch: activation gradients come from a GradArena, two ping-pong buffers shared by the layers of
// a model, so backward allocates nothing and the model holds two activation-gradient buffers
// instead of one per layer. Forward outputs live in per-layer buffers sized for the largest batch
// seen; a smaller batch (the last one of an epoch) uses a prefix view. A steady training loop
// therefore allocates nothing and keeps stable pointers (what CUDA graph capture needs).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tilenet::nn {

// A parameter (or non-trainable state value) a layer declares at build.
struct Param {
  std::string name;  // "kernel", "bias", "gamma", "moving_mean"...
  Shape shape;
  bool trainable = true;
  std::string initializer = "zeros";  // see nn/initializers.h
  std::int64_t fan_in = 0, fan_out = 0;
  // Set by the model when it lays the buffers out:
  Tensor value;       // f32 view into the parameter buffer (trainable) or the state buffer
  Tensor grad;        // f32 view into the gradient buffer (trainable only)
  Tensor half_value;  // f16 view into the f16 weight copy (mixed precision, trainable only)
};

// Two buffers that activation gradients ping-pong between during backward. take() returns a view
// of the buffer that does not hold `avoid`, growing it when too small.
class GradArena {
 public:
  Tensor take(const Tensor& avoid, const Shape& shape, DType dtype, Device device);
  // Preallocates both buffers to hold `elems` elements of `dtype` each on `device`.
  void reserve(std::int64_t elems, DType dtype, Device device);
  bool owns(const Tensor& t) const;
  std::size_t capacity_bytes() const;
  // Device scratch of at least `bytes` for kernels that need workspace (convolution, batch norm),
  // shared by the model's layers (their launches are ordered on one stream) and grown when too
  // small, so warm steps allocate nothing. Undefined for 0 bytes or a CPU device. Valid until the
  // next call: fetch it again for every op.
  Tensor workspace(std::size_t bytes, Device device);
  // Bumped whenever a buffer is (re)allocated: a captured CUDA graph holding old pointers is stale.
  std::uint64_t generation() const { return generation_; }

 private:
  Tensor buf_[2];  // flat 1-D buffers
  Tensor ws_;      // workspace (f32 words)
  std::uint64_t generation_ = 0;
};

// Per-run settings the model shares with its layers.
struct RunState {
  std::uint64_t seed = 0;  // base seed for dropout masks
  std::uint64_t step = 0;  // training step counter: dropout streams never repeat across steps
  // The same counter in device memory (CUDA models): read by the dropout kernel so a captured
  // CUDA graph replays with fresh masks. Null on the CPU.
  const std::uint64_t* device_step = nullptr;
  // Bumped whenever a layer (re)allocates a forward buffer (stale-graph detection).
  std::uint64_t buffer_generation = 0;
};

class Layer {
 public:
  Layer();
  virtual ~Layer();
  Layer(const Layer&) = default;
  Layer& operator=(const Layer&) = default;

  // Keras class name ("Dense") and the snake_case stem used for default names ("dense").
  virtual std::string type() const = 0;
  virtual std::string name_stem() const;
  const std::string& name() const { return name_; }
  void set_name(const std::string& name) { name_ = name; }
  // "dense_1 (Dense)": how errors and the summary name the layer.
  std::string label() const;

  // Validates and records the per-sample input shape, declares parameters, returns the output
  // shape. Building again with the same shape is a no-op; a different shape throws ShapeError.
  Shape build(const Shape& input_shape);
  bool built() const { return built_; }
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  std::int64_t count_params(bool trainable_only = false) const;
  // Finds a declared parameter by name; throws ValueError naming the layer when absent.
  Param& param(const std::string& name);

  // x: [batch, input_shape...] f32 or f16 on the parameters' device.
  Tensor forward(const Tensor& x, bool training);
  // dy: [batch, output_shape...] with the dtype of the forward output. Returns dx (or undefined).
  Tensor backward(const Tensor& dy);

  // --- Set by the model ---
  void set_needs_input_grad(bool v) { needs_input_grad_ = v; }
  bool needs_input_grad() const { return needs_input_grad_; }
  void set_arena(std::shared_ptr<GradArena> arena) { arena_ = std::move(arena); }
  void set_run_state(RunState* run) { run_ = run; }
  // Layers whose last operation is a softmax can hand out the logits instead, so the model fuses
  // softmax + cross-entropy into one stable kernel (Keras's from_logits=False after a softmax).
  virtual bool has_softmax_output() const { return false; }
  void set_emit_logits(bool v) { emit_logits_ = v; }
  bool emit_logits() const { return emit_logits_; }
  // Drops the cached forward/backward buffers (after moving the model to another device), and the
  // cached tensors with them.
  void release_buffers();
  // Drops the tensor handles forward keeps for backward (its input, outputs, argmax indices): the
  // input may be a view of a whole dataset copy, kept alive after fit/evaluate/predict. Only
  // handles go: buffers and arena memory (which a captured CUDA graph uses) stay. The next
  // forward caches afresh; backward before it throws, as before any forward.
  void clear_cache();
  // Largest per-sample activation (input or output) in elements: sizes the GradArena.
  std::int64_t max_activation_elems() const;

 protected:
  virtual Shape build_impl(const Shape& input_shape) = 0;
  virtual Tensor forward_impl(const Tensor& x, bool training) = 0;
  virtual Tensor backward_impl(const Tensor& dy) = 0;
  // Resets the layer's cached tensors (clear_cache); layers without any keep the default.
  virtual void clear_cache_impl() {}

  Param& add_param(const std::string& name, const Shape& shape, const std::string& initializer,
                   bool trainable = true, std::int64_t fan_in = 0, std::int64_t fan_out = 0);
  // The tensor to compute with: the f16 copy when `dtype` is f16 (and the model made one), else the
  // f32 master value.
  const Tensor& weight(const Param& p, DType dtype) const;
  // A [batch, per_sample...] view of forward buffer `slot`, reallocated only when it must grow.
  Tensor buffer(int slot, std::int64_t batch, const Shape& per_sample, DType dtype, Device device);
  // A gradient scratch view from the arena that does not alias `avoid`.
  Tensor grad_scratch(const Tensor& avoid, const Shape& shape, DType dtype);
  // The model's shared kernel workspace (GradArena::workspace): fetch it right before each op.
  Tensor workspace(std::size_t bytes, Device device) { return arena_->workspace(bytes, device); }
  // True when `t` is arena scratch this layer may overwrite (e.g. an in-place ReLU backward).
  bool is_scratch(const Tensor& t) const;
  std::uint64_t run_seed() const { return run_ ? run_->seed : 0; }
  std::uint64_t run_step() const { return run_ ? run_->step : 0; }
  const std::uint64_t* run_device_step() const { return run_ ? run_->device_step : nullptr; }
  // Shape/dtype errors that name this layer.
  [[noreturn]] void fail_shape(const std::string& what) const;

  std::vector<Param> params_;
  std::uint64_t layer_index_ = 0;  // position in the model (decorrelates dropout streams)

 private:
  friend class Sequential;
  std::string name_;
  bool built_ = false;
  Shape input_shape_, output_shape_;
  bool needs_input_grad_ = true;
  bool emit_logits_ = false;
  std::shared_ptr<GradArena> arena_;
  RunState* run_ = nullptr;
  std::vector<Tensor> buffers_;
  std::int64_t last_batch_ = -1;  // batch of the last forward (0: no forward yet)
};

// "(None, 28, 28, 1)" for a per-sample shape (28, 28, 1).
std::string batch_shape_str(const Shape& per_sample);
// [batch, per_sample...]
Shape with_batch(std::int64_t batch, const Shape& per_sample);

}  // namespace tilenet::nn
