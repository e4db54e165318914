// Core layers: Input (a shape marker), Dense, Flatten, Activation / ReLU / Softmax, Dropout.
// Keras names, defaults and semantics; see nn/layer.h for the contract every layer follows.
#pragma once

#include <cstdint>
#include <string>

#include "nn/layer.h"

namespace tilenet::nn {

// Activations a layer can apply: "" / "linear" (none), "relu", "softmax" (over the last dimension).
enum class ActivationKind { linear, relu, softmax };
// Throws ValueError listing the supported names for anything else.
ActivationKind parse_activation(const std::string& name);
const char* activation_name(ActivationKind a);

// The per-sample input shape of a Sequential model (Keras's keras.Input(shape=...)). Not a layer:
// it does not appear in the summary.
struct Input {
  Shape shape;
  explicit Input(const Shape& s) : shape(s) {}
  Input(std::initializer_list<std::int64_t> dims) : shape(dims) {}
};

// y = act(x @ kernel + bias) over the last dimension. kernel [in, units] (Keras's layout),
// bias [units]. Forward is one GEMM launch with the bias and ReLU fused into its epilogue (plus a
// softmax launch for activation "softmax"); backward: dW = x^T dy (one GEMM, f32 out), db = column
// sums of dy, dx = dy kernel^T.
class Dense : public Layer {
 public:
  explicit Dense(std::int64_t units, const std::string& activation = "", bool use_bias = true,
                 const std::string& kernel_initializer = "glorot_uniform",
                 const std::string& bias_initializer = "zeros");
  std::string type() const override { return "Dense"; }
  bool has_softmax_output() const override { return act_ == ActivationKind::softmax; }
  std::int64_t units() const { return units_; }
  ActivationKind activation() const { return act_; }

 protected:
  Shape build_impl(const Shape& in) override;
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
  void clear_cache_impl() override { x_ = z_ = p_ = Tensor(); }

 private:
  std::int64_t units_, in_ = 0;
  ActivationKind act_;
  bool use_bias_;
  std::string kernel_init_, bias_init_;
  Tensor x_, z_, p_;  // input, GEMM output (post-ReLU when fused), softmax output
};

// [batch, d1, d2, ...] -> [batch, d1*d2*...]: a view, no copy.
class Flatten : public Layer {
 public:
  std::string type() const override { return "Flatten"; }

 protected:
  Shape build_impl(const Shape& in) override;
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
};

// Applies a named activation ("relu", "softmax", "linear").
class Activation : public Layer {
 public:
  explicit Activation(const std::string& activation);
  std::string type() const override { return type_; }
  bool has_softmax_output() const override { return act_ == ActivationKind::softmax; }

 protected:
  Activation(ActivationKind act, std::string type) : act_(act), type_(std::move(type)) {}
  Shape build_impl(const Shape& in) override { return in; }
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
  void clear_cache_impl() override { y_ = Tensor(); }

 private:
  ActivationKind act_;
  std::string type_;
  Tensor y_;
};

class ReLU : public Activation {
 public:
  ReLU() : Activation(ActivationKind::relu, "ReLU") {}
};

class Softmax : public Activation {
 public:
  Softmax() : Activation(ActivationKind::softmax, "Softmax") {}
};

// Inverted dropout in training (kept values scaled by 1/(1-rate)), identity in inference. The mask
// is never stored: it is regenerated in backward from (seed, offset), where the seed mixes the
// model's fit seed with the layer's position (or the layer's own seed when given) and the offset
// advances with the training step.
class Dropout : public Layer {
 public:
  explicit Dropout(float rate, std::int64_t seed = -1);
  std::string type() const override { return "Dropout"; }
  float rate() const { return rate_; }

 protected:
  Shape build_impl(const Shape& in) override { return in; }
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;

 private:
  std::uint64_t stream_seed() const;
  void apply(const Tensor& in, Tensor& out) const;
  float rate_;
  std::int64_t seed_;
  bool active_ = false;  // the last forward applied a mask
  std::uint64_t offset_ = 0;
};

// splitmix64: decorrelates seeds derived from (base, index).
std::uint64_t mix_seed(std::uint64_t base, std::uint64_t index);

}  // namespace tilenet::nn
