// Convolution and pooling layers on NHWC activations (Keras's channels_last).
//
// Conv2D stores its kernel as KRSC, [filters, kernel_h, kernel_w, in_channels] (what the Tensor
// Core kernels read); Keras's own layout is [kernel_h, kernel_w, in_channels, filters] and
// PyTorch's [filters, in_channels, kernel_h, kernel_w]: checkpoint converters permute.
// Padding "same" follows Keras (TensorFlow): output = ceil(input / stride), the total padding
// max((out - 1) * stride + window - input, 0) split with the extra pixel at the bottom/right.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "nn/layer.h"
#include "nn/layers/core.h"
#include "tensor/conv.h"
#include "tensor/pool.h"

namespace tilenet::nn {

// A (height, width) pair built from one int (square) or two.
struct Size2 {
  int h = 1, w = 1;
  Size2(int s) : h(s), w(s) {}  // NOLINT: implicit on purpose, Keras accepts an int
  Size2(int hh, int ww) : h(hh), w(ww) {}
  Size2(std::initializer_list<int> l);
};

// Padding along one dimension: returns the output extent, sets the padding before/after. Throws
// ShapeError naming `who` when the window does not fit ("valid") or an argument is bad.
std::int64_t padded_extent(const std::string& who, const std::string& padding, std::int64_t in, int window,
                           int stride, int& pad_before, int& pad_after);

class Conv2D : public Layer {
 public:
  Conv2D(std::int64_t filters, Size2 kernel_size, Size2 strides = 1, const std::string& padding = "valid",
         const std::string& activation = "", bool use_bias = true,
         const std::string& kernel_initializer = "glorot_uniform", const std::string& bias_initializer = "zeros");
  // Conv2D(32, 3, "relu"): the common Keras call with default strides and padding.
  Conv2D(std::int64_t filters, Size2 kernel_size, const std::string& activation)
      : Conv2D(filters, kernel_size, 1, "valid", activation) {}
  std::string type() const override { return "Conv2D"; }
  const Conv2dOptions& options() const { return opt_; }

 protected:
  Shape build_impl(const Shape& in) override;
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
  void clear_cache_impl() override { x_ = y_ = Tensor(); }

 private:
  // The model's shared workspace sized for every pass at x's batch (undefined on the CPU).
  Tensor conv_workspace(const Tensor& x);
  std::int64_t filters_;
  Size2 kernel_, strides_;
  std::string padding_;
  ActivationKind act_;
  bool use_bias_;
  std::string kernel_init_, bias_init_;
  Conv2dOptions opt_;
  Tensor x_, y_;
};

// Shared by MaxPool2D and AveragePooling2D: pool_size, strides (default: pool_size), padding.
class Pool2DBase : public Layer {
 public:
  const Pool2dOptions& options() const { return opt_; }

 protected:
  Pool2DBase(Size2 pool_size, int strides_h, int strides_w, const std::string& padding);
  Shape build_impl(const Shape& in) override;
  Pool2dOptions opt_;
  std::string padding_;
};

class MaxPool2D : public Pool2DBase {
 public:
  explicit MaxPool2D(Size2 pool_size = 2, Size2 strides = 0, const std::string& padding = "valid")
      : Pool2DBase(pool_size, strides.h, strides.w, padding) {}
  std::string type() const override { return "MaxPooling2D"; }
  std::string name_stem() const override { return "max_pooling2d"; }

 protected:
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
  void clear_cache_impl() override { indices_ = Tensor(); }

 private:
  Tensor indices_;
};
using MaxPooling2D = MaxPool2D;

// Padded positions are excluded from the average (Keras "same").
class AveragePooling2D : public Pool2DBase {
 public:
  explicit AveragePooling2D(Size2 pool_size = 2, Size2 strides = 0, const std::string& padding = "valid")
      : Pool2DBase(pool_size, strides.h, strides.w, padding) {}
  std::string type() const override { return "AveragePooling2D"; }
  std::string name_stem() const override { return "average_pooling2d"; }

 protected:
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
};
using AvgPool2D = AveragePooling2D;

// [batch, H, W, C] -> [batch, C], the mean over H and W.
class GlobalAveragePooling2D : public Layer {
 public:
  std::string type() const override { return "GlobalAveragePooling2D"; }
  std::string name_stem() const override { return "global_average_pooling2d"; }

 protected:
  Shape build_impl(const Shape& in) override;
  Tensor forward_impl(const Tensor& x, bool training) override;
  Tensor backward_impl(const Tensor& dy) override;
};

}  // namespace tilenet::nn
