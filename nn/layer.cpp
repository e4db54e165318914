#include "nn/layer.h"

#include <algorithm>
#include <cctype>

namespace tilenet::nn {

std::string batch_shape_str(const Shape& per_sample) {
  std::string s = "(None";
  for (int i = 0; i < per_sample.ndim(); ++i) s += ", " + std::to_string(per_sample[i]);
  return s + ")";
}

Shape with_batch(std::int64_t batch, const Shape& per_sample) {
  std::vector<std::int64_t> d{batch};
  for (int i = 0; i < per_sample.ndim(); ++i) d.push_back(per_sample[i]);
  return Shape(d);
}

// ---------------------------------------------------------------------------------------------
// GradArena

Tensor GradArena::take(const Tensor& avoid, const Shape& shape, DType dtype, Device device) {
  int pick = 0;
  if (buf_[0].defined() && avoid.defined() && avoid.shares_storage_with(buf_[0])) pick = 1;
  Tensor& b = buf_[pick];
  // One dtype per model in practice (f32, or f16 under mixed precision): a buffer of another dtype
  // is replaced rather than reinterpreted.
  if (!b.defined() || b.device() != device || b.dtype() != dtype || b.numel() < shape.numel()) {
    b = Tensor::empty({std::max<std::int64_t>(shape.numel(), 1)}, dtype, device);
    ++generation_;
  }
  return b.slice(0, shape.numel()).reshape(shape.vec());
}

void GradArena::reserve(std::int64_t elems, DType dtype, Device device) {
  for (Tensor& b : buf_) {
    if (b.defined() && b.device() == device && b.dtype() == dtype && b.numel() >= elems) continue;
    b = Tensor::empty({std::max<std::int64_t>(elems, 1)}, dtype, device);
    ++generation_;
  }
}

bool GradArena::owns(const Tensor& t) const {
  return t.defined() && ((buf_[0].defined() && t.shares_storage_with(buf_[0])) ||
                         (buf_[1].defined() && t.shares_storage_with(buf_[1])));
}

Tensor GradArena::workspace(std::size_t bytes, Device device) {
  if (bytes == 0 || !device.is_cuda()) return Tensor();
  const auto words = static_cast<std::int64_t>((bytes + 3) / 4);
  if (!ws_.defined() || ws_.device() != device || ws_.numel() < words) {
    ws_ = Tensor::empty({words}, DType::f32, device);
    ++generation_;
  }
  return ws_;
}

std::size_t GradArena::capacity_bytes() const {
  std::size_t n = 0;
  for (const Tensor& b : buf_) n += b.defined() ? b.nbytes() : 0;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Layer

Layer::Layer() : arena_(std::make_shared<GradArena>()) {}
Layer::~Layer() = default;

std::string Layer::name_stem() const {
  // CamelCase -> snake_case: "MaxPool2D" -> "max_pool2d", "BatchNormalization" -> "batch_normalization".
  const std::string t = type();
  std::string s;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      const bool prev_lower = i > 0 && std::islower(static_cast<unsigned char>(t[i - 1]));
      const bool next_lower = i + 1 < t.size() && std::islower(static_cast<unsigned char>(t[i + 1]));
      const bool prev_upper = i > 0 && std::isupper(static_cast<unsigned char>(t[i - 1]));
      if (i > 0 && (prev_lower || (prev_upper && next_lower))) s += '_';
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return s;
}

std::string Layer::label() const { return (name_.empty() ? name_stem() : name_) + " (" + type() + ")"; }

void Layer::fail_shape(const std::string& what) const { throw ShapeError(label() + ": " + what); }

Shape Layer::build(const Shape& input_shape) {
  if (built_) {
    if (input_shape != input_shape_)
      fail_shape("already built for input shape " + batch_shape_str(input_shape_) + ", got " +
                 batch_shape_str(input_shape));
    return output_shape_;
  }
  for (int i = 0; i < input_shape.ndim(); ++i)
    if (input_shape[i] <= 0)
      fail_shape("input shape " + batch_shape_str(input_shape) + " has a non-positive extent");
  params_.clear();
  output_shape_ = build_impl(input_shape);
  input_shape_ = input_shape;
  built_ = true;
  return output_shape_;
}

std::int64_t Layer::count_params(bool trainable_only) const {
  std::int64_t n = 0;
  for (const Param& p : params_)
    if (p.trainable || !trainable_only) n += p.shape.numel();
  return n;
}

Param& Layer::param(const std::string& name) {
  for (Param& p : params_)
    if (p.name == name) return p;
  throw ValueError(label() + ": no parameter named '" + name + "'");
}

Param& Layer::add_param(const std::string& name, const Shape& shape, const std::string& initializer, bool trainable,
                        std::int64_t fan_in, std::int64_t fan_out) {
  Param p;
  p.name = name;
  p.shape = shape;
  p.trainable = trainable;
  p.initializer = initializer;
  p.fan_in = fan_in;
  p.fan_out = fan_out;
  params_.push_back(std::move(p));
  return params_.back();
}

const Tensor& Layer::weight(const Param& p, DType dtype) const {
  if (dtype == DType::f16 && p.half_value.defined()) return p.half_value;
  if (!p.value.defined())
    throw ValueError(label() + ": parameter '" + p.name +
                     "' has no storage; add the layer to a model and build it before calling forward");
  return p.value;
}

Tensor Layer::forward(const Tensor& x, bool training) {
  if (!built_) throw ValueError(label() + ": forward called before build");
  if (!x.defined()) throw ValueError(label() + ": input x is undefined");
  if (x.dtype() != DType::f32 && x.dtype() != DType::f16)
    throw DtypeError(label() + ": input has dtype " + dtype_name(x.dtype()) + ", expected f32 (or f16 under mixed precision)");
  bool ok = x.ndim() == input_shape_.ndim() + 1 && x.dim(0) >= 1;
  for (int i = 0; ok && i < input_shape_.ndim(); ++i) ok = x.dim(i + 1) == input_shape_[i];
  if (!ok) fail_shape("got input shape " + x.shape().str() + ", expected " + batch_shape_str(input_shape_));
  for (const Param& p : params_)
    if (p.value.defined() && p.value.device() != x.device())
      throw DeviceError(label() + ": input is on " + x.device().str() + " but the parameters are on " +
                        p.value.device().str() + "; move the model or the data with to()");
  last_batch_ = x.dim(0);
  return forward_impl(x, training);
}

Tensor Layer::backward(const Tensor& dy) {
  if (last_batch_ < 0) throw ValueError(label() + ": backward called before forward");
  if (!dy.defined()) throw ValueError(label() + ": dy is undefined");
  const Shape expected = with_batch(last_batch_, output_shape_);
  if (dy.shape() != expected)
    fail_shape("backward got dy of shape " + dy.shape().str() + ", expected " + expected.str());
  if (dy.dtype() != DType::f32 && dy.dtype() != DType::f16)
    throw DtypeError(label() + ": dy has dtype " + dtype_name(dy.dtype()) + ", expected f32 or f16");
  return backward_impl(dy);
}

void Layer::release_buffers() {
  clear_cache();
  buffers_.clear();
}

void Layer::clear_cache() {
  clear_cache_impl();
  last_batch_ = -1;
}

std::int64_t Layer::max_activation_elems() const {
  return std::max(input_shape_.numel(), output_shape_.numel());
}

Tensor Layer::buffer(int slot, std::int64_t batch, const Shape& per_sample, DType dtype, Device device) {
  if (static_cast<int>(buffers_.size()) <= slot) buffers_.resize(slot + 1);
  Tensor& b = buffers_[slot];
  const Shape want = with_batch(batch, per_sample);
  if (!b.defined() || b.dtype() != dtype || b.device() != device || b.dim(0) < batch ||
      b.shape().numel() / b.dim(0) != per_sample.numel()) {
    b = Tensor::empty(want, dtype, device);
    if (run_) ++run_->buffer_generation;
  }
  Tensor v = b.dim(0) == batch ? b : b.slice(0, batch);
  return v.shape() == want ? v : v.reshape(want.vec());
}

Tensor Layer::grad_scratch(const Tensor& avoid, const Shape& shape, DType dtype) {
  return arena_->take(avoid, shape, dtype, avoid.device());
}

bool Layer::is_scratch(const Tensor& t) const { return arena_->owns(t); }

}  // namespace tilenet::nn
