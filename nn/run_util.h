// Internal helpers shared by fit.cpp and evaluate.cpp: the device-side metric accumulator, the
// per-sample shape of a batch, and the progress bar's ordered values. Internal to nn/.
#pragma once

#include <string>
#include <vector>

#include "nn/progress.h"
#include "nn/sequential.h"

namespace tilenet::nn::detail {

// Device doubles [n] zeroed (f32 storage of twice the words), on `device`.
Tensor make_accumulator(int n, Device device);
// Zeroes it on its device's current stream (queued on CUDA).
void zero_accumulator(Tensor& acc);
// Its doubles, read to the host (the one device read per epoch or evaluate call).
std::vector<double> read_accumulator(const Tensor& acc);
// The per-sample shape of a batch: every dimension but the first; ShapeError for a 0-D tensor.
Shape sample_shape(const Tensor& x);
// The values of `logs` in `order` (names missing from logs are left out).
MetricValues to_values(const Logs& logs, const std::vector<std::string>& order);

}  // namespace tilenet::nn::detail
