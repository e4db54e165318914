// In-memory datasets for fit/evaluate/predict: features x [N, ...] and targets y [N, ...] (or none),
// kept resident on one device. An epoch is prepared with ONE gather launch per tensor (x and y) by
// a permutation drawn from (seed, epoch), so the batches of the epoch are contiguous views and the
// training loop does no host work and no copies per batch. Under mixed precision the gather also
// casts x to f16 (the compute dtype), so the cast costs nothing extra.
//
//   Dataset train(x, y);                      // x f32 [N, 28, 28, 1], y i32 [N]
//   train.normalize(1.0f / 255.0f).to(Device::cuda());
//   Dataset val = train.split_tail(5000);     // the last 5000 samples (Keras validation_split)
#pragma once

#include <cstdint>
#include <utility>

#include "tensor/tensor.h"

namespace tilenet::nn {

class Dataset {
 public:
  Dataset() = default;
  // x: f32 [N, ...]; y: [N, ...] of any dtype, or undefined (prediction). Throws ShapeError when the
  // first extents differ, DtypeError when x is not f32.
  Dataset(Tensor x, Tensor y = Tensor());

  std::int64_t size() const { return x_.defined() ? x_.dim(0) : 0; }
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }
  Device device() const { return x_.device(); }

  // x = x * scale + shift (e.g. 1/255 for byte images). Computed once on the host.
  Dataset& normalize(float scale, float shift = 0.0f);
  // Moves x and y to `device` (one copy each; no-op when already there).
  Dataset& to(Device device);
  // Samples [begin, end) as views (no copy).
  Dataset slice(std::int64_t begin, std::int64_t end) const;
  // Removes the last `count` samples from this dataset and returns them (views): Keras's
  // validation_split takes the tail before any shuffling.
  Dataset split_tail(std::int64_t count);

  // Prepares an epoch: batches come in the order of a seeded permutation (Fisher-Yates over the
  // Philox stream of mix(seed, epoch), computed on the host, uploaded once, applied by one gather
  // per tensor), or in storage order without shuffle. x is delivered in `x_dtype` (f16: cast).
  void begin_epoch(bool shuffle, std::uint64_t seed, int epoch, DType x_dtype = DType::f32);
  std::int64_t num_batches(std::int64_t batch_size) const;
  // Batch `index` of the current epoch: views [index*batch_size, min(N, (index+1)*batch_size)).
  std::pair<Tensor, Tensor> batch(std::int64_t index, std::int64_t batch_size) const;

  // The permutation begin_epoch uses, for tests and for users who shuffle other arrays alike.
  static std::vector<std::int32_t> permutation(std::int64_t n, std::uint64_t seed, int epoch);

 private:
  Tensor x_, y_;
  Tensor ex_, ey_;  // the current epoch's (shuffled and/or cast) copies; alias x_, y_ when neither
  Tensor perm_;     // i32 [N] on the device
  bool ready_ = false;
};

}  // namespace tilenet::nn
