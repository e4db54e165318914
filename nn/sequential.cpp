// Sequential: layers, build and the flat buffer layout, device moves, compile. Training, evaluation
// and prediction are in fit.cpp; the summary table in summary.cpp; files in weights_io.cpp.
#include "nn/sequential.h"

#include <iostream>

#include "kernels/elementwise.h"
#include "nn/initializers.h"
#include "optim/optimizers.h"
#include "tensor/stream.h"

namespace tilenet::nn {

Sequential::Sequential(std::string name, std::uint64_t seed)
    : name_(std::move(name)), seed_(seed), arena_(std::make_shared<GradArena>()) {}

Sequential::~Sequential() = default;

Layer& Sequential::add_layer(std::unique_ptr<Layer> layer) {
  TILENET_CHECK(layer != nullptr, ValueError, "Sequential::add: null layer");
  if (built_)
    throw ValueError("Sequential::add: model '" + name_ +
                     "' already holds its weights; add every layer before compiling, fitting or loading weights");
  if (layer->name().empty()) {
    const std::string stem = layer->name_stem();
    const int n = name_counts_[stem]++;
    layer->set_name(n == 0 ? stem : stem + "_" + std::to_string(n));
  }
  for (const auto& l : layers_)
    if (l->name() == layer->name())
      throw ValueError("Sequential::add: a layer named '" + layer->name() + "' is already in the model");
  layer->layer_index_ = layers_.size();
  layer->set_arena(arena_);
  layer->set_run_state(&run_);
  if (has_input_shape_) {
    // Keras builds as soon as the input shape is known: a layer that does not fit fails here.
    layer->build(layers_.empty() ? input_shape_ : layers_.back()->output_shape());
  }
  layers_.push_back(std::move(layer));
  shapes_ready_ = has_input_shape_;
  return *layers_.back();
}

void Sequential::add(const Input& input) {
  if (!layers_.empty() || has_input_shape_)
    throw ValueError("Sequential::add(Input): the input shape must come first, before any layer");
  input_shape_ = input.shape;
  has_input_shape_ = true;
}

const Shape& Sequential::output_shape() const {
  if (!shapes_ready_) throw ValueError("model '" + name_ + "' is not built: add an Input or call build()");
  return layers_.empty() ? input_shape_ : layers_.back()->output_shape();
}

void Sequential::build(const Shape& input_shape) {
  if (built_) {
    if (input_shape != input_shape_)
      throw ShapeError("model '" + name_ + "' is built for inputs " + batch_shape_str(input_shape_) + ", got " +
                       batch_shape_str(input_shape));
    return;
  }
  if (layers_.empty()) throw ValueError("Sequential::build: model '" + name_ + "' has no layers");
  if (shapes_ready_ && input_shape != input_shape_)
    throw ShapeError("model '" + name_ + "' has the input shape " + batch_shape_str(input_shape_) + ", got " +
                     batch_shape_str(input_shape));
  Shape s = input_shape;
  for (auto& l : layers_) s = l->build(s);
  input_shape_ = input_shape;
  has_input_shape_ = shapes_ready_ = true;
  layout(true);
  built_ = true;
}

void Sequential::ensure_layout() {
  if (!built_ && shapes_ready_) build(input_shape_);
  if (!built_) throw ValueError("model '" + name_ + "' is not built: add an Input or call build()");
}

Tensor& Sequential::parameters() {
  ensure_layout();
  return params_;
}

Tensor& Sequential::gradients() {
  ensure_layout();
  return grads_;
}

Tensor& Sequential::state() {
  ensure_layout();
  return state_;
}

void Sequential::ensure_built(const Shape& sample_shape) {
  if (!built_) build(shapes_ready_ ? input_shape_ : sample_shape);
  if (sample_shape != input_shape_)
    throw ShapeError("model '" + name_ + "': inputs have per-sample shape " + sample_shape.str() + ", the model (" +
                     layers_.front()->label() + ") expects " + batch_shape_str(input_shape_));
}

void Sequential::layout(bool init) {
  std::int64_t np = 0, ns = 0;
  for (auto& l : layers_)
    for (Param& p : l->params()) (p.trainable ? np : ns) += p.shape.numel();
  params_ = Tensor::zeros({np}, DType::f32, device_);
  grads_ = Tensor::zeros({np}, DType::f32, device_);
  state_ = Tensor::zeros({ns}, DType::f32, device_);
  std::int64_t op = 0, os = 0;
  std::uint64_t index = 0;
  for (auto& l : layers_) {
    for (Param& p : l->params()) {
      const std::int64_t n = p.shape.numel();
      std::int64_t& off = p.trainable ? op : os;
      Tensor& flat = p.trainable ? params_ : state_;
      p.value = flat.slice(off, off + n).reshape(p.shape.vec());
      p.grad = p.trainable ? grads_.slice(off, off + n).reshape(p.shape.vec()) : Tensor();
      const std::uint64_t pseed = mix_seed(seed_, index++);
      if (init) initialize(p.initializer, p.value, p.fan_in, p.fan_out, pseed);
      off += n;
    }
  }
  invalidate_graph();
  params_half_ = Tensor();
  for (auto& l : layers_)
    for (Param& p : l->params()) p.half_value = Tensor();
  half_dirty_ = true;
  if (copts_.mixed_precision) {
    params_half_ = Tensor::empty({np}, DType::f16, device_);
    std::int64_t off = 0;
    for (auto& l : layers_)
      for (Param& p : l->params()) {
        if (!p.trainable) continue;
        p.half_value = params_half_.slice(off, off + p.shape.numel()).reshape(p.shape.vec());
        off += p.shape.numel();
      }
  }
  // Input gradients are needed only above the first layer that has trainable parameters.
  bool seen = false;
  for (auto& l : layers_) {
    l->set_needs_input_grad(seen);
    if (l->count_params(true) > 0) seen = true;
  }
}

Sequential& Sequential::to(Device device) {
  if (device.is_cuda()) require_cuda("Sequential::to", device.index);
  if (device == device_) return *this;
  std::unique_ptr<optim::LossScaler> moved;  // made first: if that throws, nothing has changed
  if (copts_.mixed_precision) {  // a scaler on the new device that goes on where the old one was
    moved = std::make_unique<optim::LossScaler>(device, copts_.loss_scale);
    if (scaler_) moved->restore(scaler_->current_scale(), scaler_->good_steps());
  }
  device_ = device;
  if (moved) scaler_ = std::move(moved);
  losses_ = train_acc_ = fit_acc_ = step_counter_ = Tensor();
  run_.device_step = nullptr;
  invalidate_graph();
  if (!built_) return *this;
  // Move the flat buffers and re-point every view at the same offsets.
  Tensor p = params_.to(device), s = state_.to(device);
  layout(false);  // reallocates on the new device and re-points the views
  params_.copy_from(p);
  state_.copy_from(s);
  for (auto& l : layers_) l->release_buffers();
  arena_ = std::make_shared<GradArena>();
  for (auto& l : layers_) l->set_arena(arena_);
  // The optimizer moves its slots to the parameters' device at its next step.
  return *this;
}

void Sequential::compile(const optim::Optimizer& optimizer, const Loss& loss, const std::vector<Metric>& metrics,
                         const CompileOptions& options) {
  std::shared_ptr<optim::Optimizer> opt(optimizer.clone());
  if (!optimizer.schedule()) opt->set_learning_rate(optimizer.learning_rate());
  compile(std::move(opt), loss, metrics, options);
}


void Sequential::compile(const std::string& optimizer, const Loss& loss, const std::vector<Metric>& metrics,
                         const CompileOptions& options) {
  compile(std::shared_ptr<optim::Optimizer>(optim::make_optimizer(optimizer)), loss, metrics, options);
}

void Sequential::compile(std::shared_ptr<optim::Optimizer> optimizer, const Loss& loss,
                         const std::vector<Metric>& metrics, const CompileOptions& options) {
  TILENET_CHECK(optimizer != nullptr, ValueError, "compile: optimizer is null");
  TILENET_CHECK(static_cast<int>(metrics.size()) <= 4, ValueError, "compile: at most 4 metrics, got ", metrics.size());
  optimizer_ = std::move(optimizer);
  loss_ = loss;
  metrics_ = metrics;
  const bool mp_changed = copts_.mixed_precision != options.mixed_precision;
  copts_ = options;
  scaler_.reset();
  if (copts_.mixed_precision) scaler_ = std::make_unique<optim::LossScaler>(device_, copts_.loss_scale);
  if (!built_ && shapes_ready_) build(input_shape_);
  if (built_ && mp_changed) {
    Tensor p = params_.clone(), s = state_.clone();
    layout(false);
    params_.copy_from(p);
    state_.copy_from(s);
    for (auto& l : layers_) l->release_buffers();
  }
  losses_ = train_acc_ = fit_acc_ = Tensor();
  invalidate_graph();
  graph_failed_ = false;
}

void Sequential::clear_layer_caches() {
  for (auto& l : layers_) l->clear_cache();
}

void Sequential::invalidate_graph() {
  graph_.reset();
  stage_x_ = stage_y_ = Tensor();
  last_generation_ = ~0ull;
}

void Sequential::require_compiled(const char* op) const {
  if (!optimizer_) throw ValueError(std::string(op) + ": model '" + name_ + "' is not compiled; call compile() first");
}

Layer& Sequential::layer(std::size_t i) {
  TILENET_CHECK(i < layers_.size(), ValueError, "Sequential::layer: index ", i, " of ", layers_.size(), " layers");
  return *layers_[i];
}

Layer& Sequential::get_layer(const std::string& name) {
  for (auto& l : layers_)
    if (l->name() == name) return *l;
  throw ValueError("Sequential::get_layer: no layer named '" + name + "' in model '" + name_ + "'");
}

std::int64_t Sequential::count_params(bool trainable_only) const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += l->count_params(trainable_only);
  return n;
}

optim::Optimizer& Sequential::optimizer() {
  require_compiled("Sequential::optimizer");
  return *optimizer_;
}

void Sequential::refresh_half_weights() {
  if (!copts_.mixed_precision || !half_dirty_ || params_.numel() == 0) return;
  if (params_.is_cuda())
    kernels::cast(params_.data<float>(), params_half_.data<half>(), params_.numel(),
                  cuda::current_stream(device_.index));
  else
    kernels::cast_ref(params_.data<float>(), params_half_.data<half>(), params_.numel());
  half_dirty_ = false;
}

}  // namespace tilenet::nn
