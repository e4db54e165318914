// Training-loop kernels (see train_ops.h). All memory-bound and small next to the GEMMs:
// - gather_rows: one block per row (grid-stride over rows), threads stride the row: coalesced.
// - crossentropy_probs / mse_loss: one warp per row, warp-shuffle sums.
// - dropout_at_step: kernels/dropout.cu's arithmetic with the stream offset read from device memory.
// - accumulate_metrics: ONE block of 1024 threads, one warp per row; per-warp partial counts are
//   combined by thread 0 in warp order, so the sums are deterministic for a given batch. A batch
//   of 128 rows x 1000 classes takes a few microseconds.
#include <cuda_fp16.h>

#include "kernels/cuda_utils.cuh"
#include "kernels/dropout.h"
#include "kernels/launch.h"
#include "kernels/philox.h"
#include "kernels/train_ops.h"

namespace tilenet::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMetricThreads = 1024;

template <typename Tin, typename Tout>
__global__ void __launch_bounds__(kThreads)
    gather_kernel(const Tin* src, const std::int32_t* index, Tout* dst, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const Tin* s = src + static_cast<std::int64_t>(index[r]) * cols;
    Tout* d = dst + r * cols;
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      if constexpr (std::is_same_v<Tin, Tout>)
        d[c] = s[c];
      else
        d[c] = from_float<Tout>(to_float(s[c]));
    }
  }
}

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float target_at(const ProbLossArgs& a, std::int64_t i, std::int64_t c) {
  if (a.labels) return a.labels[i] == c ? 1.0f : 0.0f;
  return a.targets[i * a.cols + c];
}

// The gradient scale, formed in float as the references do: grad_scale * *grad_scale_device.
__device__ __forceinline__ float grad_scale_of(const ProbLossArgs& a) {
  return a.grad_scale_device ? a.grad_scale * *a.grad_scale_device : a.grad_scale;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) ce_probs_kernel(ProbLossArgs a, const T* pred, T* dpred) {
  const int lane = threadIdx.x & 31;
  const float scale = dpred ? grad_scale_of(a) : 0.0f;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x / 32);
  // The clip bounds rounded to float (Keras's epsilon arithmetic), exactly as the reference forms them.
  const double lo = a.eps, hi = static_cast<double>(1.0f - a.eps);
  for (std::int64_t i = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; i < a.rows; i += warps) {
    const T* p = pred + i * a.cols;
    const bool bad = a.labels && (a.labels[i] < 0 || a.labels[i] >= a.cols);
    double s = 0.0;
    for (std::int64_t c = lane; c < a.cols; c += 32) s += to_float(p[c]);
    s = warp_sum_d(s);
    double loss = 0.0, tsum = 0.0;
    for (std::int64_t c = lane; c < a.cols; c += 32) {
      const double t = target_at(a, i, c);
      const double q = to_float(p[c]) / s;
      const double qc = q < lo ? lo : (q > hi ? hi : q);  // a NaN stays NaN (fmax would clip it)
      loss -= t * log(qc);
      if (q >= lo && q <= hi) tsum += t;
    }
    loss = warp_sum_d(loss);
    tsum = warp_sum_d(tsum);
    if (lane == 0) a.losses[i] = bad ? __int_as_float(0x7fc00000) : static_cast<float>(loss);
    if (!dpred) continue;
    for (std::int64_t c = lane; c < a.cols; c += 32) {
      const double q = to_float(p[c]) / s;
      const double g = (q >= lo && q <= hi) ? -target_at(a, i, c) / q : 0.0;
      // A bad label's row: NaN, like its loss, so a mixed-precision step is skipped.
      const float d = bad ? __int_as_float(0x7fc00000) : static_cast<float>((g + tsum) / s * scale);
      dpred[i * a.cols + c] = from_float<T>(d);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) mse_kernel(ProbLossArgs a, const T* pred, T* dpred) {
  const int lane = threadIdx.x & 31;
  const float scale = dpred ? grad_scale_of(a) : 0.0f;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x / 32);
  for (std::int64_t i = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; i < a.rows; i += warps) {
    double loss = 0.0;
    for (std::int64_t c = lane; c < a.cols; c += 32) {
      const double d = static_cast<double>(to_float(pred[i * a.cols + c])) - a.targets[i * a.cols + c];
      loss += d * d;
      if (dpred) dpred[i * a.cols + c] = from_float<T>(static_cast<float>(2.0 * d / a.cols * scale));
    }
    loss = warp_sum_d(loss);
    if (lane == 0) a.losses[i] = static_cast<float>(loss / a.cols);
  }
}

// (value, index) pairs: the larger value wins, equal values go to the smaller index; NaN never wins
// (as in the reference, where `v > best` is false for NaN).
__device__ __forceinline__ void argmax_merge(float& v, std::int64_t& idx, float ov, std::int64_t oidx) {
  if (ov > v || (ov == v && oidx < idx) || (isnan(v) && !isnan(ov))) {
    v = ov;
    idx = oidx;
  }
}

__device__ __forceinline__ void warp_argmax(float& v, std::int64_t& idx) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const std::int64_t oi = __shfl_xor_sync(0xffffffffu, idx, o);
    argmax_merge(v, idx, ov, oi);
  }
}

template <typename T>
__global__ void __launch_bounds__(kMetricThreads) metrics_kernel(MetricArgs a, const T* pred, double* acc) {
  __shared__ double loss_part[kMetricThreads / 32];
  __shared__ int correct_part[kMetricThreads / 32][kMaxMetrics];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  double loss = 0.0;
  int correct[kMaxMetrics] = {0, 0, 0, 0};
  for (std::int64_t i = warp; i < a.rows; i += nwarps) {
    if (a.losses) loss += lane == 0 ? static_cast<double>(a.losses[i]) : 0.0;
    const T* p = pred + i * a.cols;
    if (a.cols == 1) {
      if (lane == 0) {
        const bool yes = to_float(p[0]) > a.binary_threshold;
        const float t = a.labels ? static_cast<float>(a.labels[i]) : a.targets[i];
        for (int j = 0; j < a.num_metrics; ++j) correct[j] += (yes == (t > 0.5f));
      }
      continue;
    }
    std::int64_t label;
    if (a.labels) {
      label = a.labels[i];
    } else {
      // argmax of the target row, first maximum (targets are never NaN in practice).
      float tv = -INFINITY;
      std::int64_t ti = a.cols;
      for (std::int64_t c = lane; c < a.cols; c += 32) {
        const float v = a.targets[i * a.cols + c];
        if (ti == a.cols || v > tv) {
          tv = v;
          ti = c;
        }
      }
      warp_argmax(tv, ti);
      label = ti;
    }
    if (label < 0 || label >= a.cols) continue;
    const float z = to_float(p[label]);
    float best = -INFINITY;
    std::int64_t best_i = a.cols;  // sentinel larger than any index
    int above = 0;
    for (std::int64_t c = lane; c < a.cols; c += 32) {
      const float v = to_float(p[c]);
      if (best_i == a.cols || v > best || (isnan(best) && !isnan(v))) {
        best = v;
        best_i = c;
      }
      above += v > z;
    }
    warp_argmax(best, best_i);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) above += __shfl_xor_sync(0xffffffffu, above, o);
    if (lane == 0) {
      // The reference starts its argmax at index 0 and never lets NaN win; a NaN at index 0 keeps 0.
      if (isnan(to_float(p[0]))) best_i = 0;
      for (int j = 0; j < a.num_metrics; ++j) {
        const bool ok = a.k[j] == 1 ? (best_i == label && !isnan(to_float(p[best_i]))) : (!isnan(z) && above < a.k[j]);
        correct[j] += ok;
      }
    }
  }
  if (lane == 0) {
    loss_part[warp] = loss;
    for (int j = 0; j < kMaxMetrics; ++j) correct_part[warp][j] = correct[j];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double l = 0.0;
    long long c[kMaxMetrics] = {0, 0, 0, 0};
    for (int w = 0; w < nwarps; ++w) {
      l += loss_part[w];
      for (int j = 0; j < kMaxMetrics; ++j) c[j] += correct_part[w][j];
    }
    acc[0] += l;
    acc[1] += static_cast<double>(a.rows);
    for (int j = 0; j < a.num_metrics; ++j) acc[2 + j] += static_cast<double>(c[j]);
  }
}

// One Philox block (4 uniforms) per thread per iteration, as kernels/dropout.cu; the offset is a
// multiple of 4 (step << 32), so block b covers elements 4b .. 4b + 3, and a step's stream never
// reaches the next step's (the launcher caps n at 2^32).
template <typename T>
__global__ void __launch_bounds__(kThreads) dropout_step_kernel(const T* x, T* y, std::int64_t n, float rate,
                                                                 float scale, std::uint64_t seed,
                                                                 const std::uint64_t* step) {
  const std::uint64_t offset = *step << 32;
  const std::int64_t blocks = (n + 3) / 4;
  for (std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks;
       b += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = philox4x32((offset >> 2) + static_cast<std::uint64_t>(b), seed);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const std::int64_t i = b * 4 + k;
      if (i < n) y[i] = from_float<T>(philox_uniform01(r.v[k]) >= rate ? to_float(x[i]) * scale : 0.0f);
    }
  }
}

__global__ void set_counter_kernel(std::uint64_t* c, std::uint64_t v) { *c = v; }
__global__ void advance_counter_kernel(std::uint64_t* c) { *c += 1; }

template <typename T>
void launch_dropout_step(const T* x, T* y, std::int64_t n, float rate, std::uint64_t seed, const std::uint64_t* step,
                         cudaStream_t s) {
  check_dropout_rate(rate, "dropout_at_step");
  TILENET_CHECK(n >= 0 && (n == 0 || (x && y && step)), ValueError, "dropout_at_step: bad arguments (n=", n, ")");
  TILENET_CHECK(n <= (1LL << 32), ValueError, "dropout_at_step: n=", n,
                " elements; at most 2^32 per call (each step owns 2^32 random numbers)");
  if (n == 0) return;
  const float scale = 1.0f / (1.0f - rate);
  dropout_step_kernel<<<grid_for((n + 3) / 4, kThreads), kThreads, 0, s>>>(x, y, n, rate, scale, seed, step);
  check_launch("dropout_at_step", s);
}

void check_rows_cols(const char* op, std::int64_t rows, std::int64_t cols) {
  TILENET_CHECK(rows >= 0 && cols >= 1, ValueError, op, ": got rows=", rows, " cols=", cols,
                ", expected rows >= 0 and cols >= 1");
}

template <typename Tin, typename Tout>
void launch_gather(const Tin* src, const std::int32_t* index, Tout* dst, std::int64_t rows, std::int64_t cols,
                   cudaStream_t s) {
  check_rows_cols("gather_rows", rows, cols);
  if (rows == 0) return;
  const unsigned grid = static_cast<unsigned>(rows < 65535 ? rows : 65535);
  gather_kernel<<<grid, kThreads, 0, s>>>(src, index, dst, rows, cols);
  check_launch("gather_rows", s);
}

unsigned warp_grid(std::int64_t rows) {
  const std::int64_t per_block = kThreads / 32;
  const std::int64_t g = ceil_div<std::int64_t>(rows, per_block);
  return static_cast<unsigned>(g < 65535 ? (g > 0 ? g : 1) : 65535);
}

template <typename T>
void launch_ce(const ProbLossArgs& a, const T* pred, T* dpred, cudaStream_t s) {
  check_rows_cols("crossentropy_probs", a.rows, a.cols);
  if (a.rows == 0) return;  // zero-element tensors have null pointers
  TILENET_CHECK((a.labels != nullptr) != (a.targets != nullptr), ValueError,
                "crossentropy_probs: give exactly one of labels and targets");
  TILENET_CHECK(a.losses != nullptr && pred != nullptr, ValueError, "crossentropy_probs: null losses or predictions");
  ce_probs_kernel<<<warp_grid(a.rows), kThreads, 0, s>>>(a, pred, dpred);
  check_launch("crossentropy_probs", s);
}

template <typename T>
void launch_mse(const ProbLossArgs& a, const T* pred, T* dpred, cudaStream_t s) {
  check_rows_cols("mse_loss", a.rows, a.cols);
  if (a.rows == 0) return;  // zero-element tensors have null pointers
  TILENET_CHECK(a.targets != nullptr, ValueError, "mse_loss: targets are required");
  TILENET_CHECK(a.losses != nullptr && pred != nullptr, ValueError, "mse_loss: null losses or predictions");
  mse_kernel<<<warp_grid(a.rows), kThreads, 0, s>>>(a, pred, dpred);
  check_launch("mse_loss", s);
}

template <typename T>
void launch_metrics(const MetricArgs& a, const T* pred, double* acc, cudaStream_t s) {
  check_rows_cols("accumulate_metrics", a.rows, a.cols);
  TILENET_CHECK(a.num_metrics >= 0 && a.num_metrics <= kMaxMetrics, ValueError, "accumulate_metrics: ",
                a.num_metrics, " metrics, at most ", kMaxMetrics);
  metrics_kernel<<<1, kMetricThreads, 0, s>>>(a, pred, acc);
  check_launch("accumulate_metrics", s);
}

}  // namespace

void dropout_at_step(const float* x, float* y, std::int64_t n, float rate, std::uint64_t seed,
                     const std::uint64_t* step, cudaStream_t stream) {
  launch_dropout_step(x, y, n, rate, seed, step, stream);
}
void dropout_at_step(const half* x, half* y, std::int64_t n, float rate, std::uint64_t seed,
                     const std::uint64_t* step, cudaStream_t stream) {
  launch_dropout_step(x, y, n, rate, seed, step, stream);
}

void set_step_counter(std::uint64_t* counter, std::uint64_t value, cudaStream_t stream) {
  TILENET_CHECK(counter != nullptr, ValueError, "set_step_counter: null counter");
  set_counter_kernel<<<1, 1, 0, stream>>>(counter, value);
  check_launch("set_step_counter", stream);
}
void advance_step_counter(std::uint64_t* counter, cudaStream_t stream) {
  TILENET_CHECK(counter != nullptr, ValueError, "advance_step_counter: null counter");
  advance_counter_kernel<<<1, 1, 0, stream>>>(counter);
  check_launch("advance_step_counter", stream);
}

void gather_rows(const float* src, const std::int32_t* index, float* dst, std::int64_t rows, std::int64_t cols,
                 cudaStream_t stream) {
  launch_gather(src, index, dst, rows, cols, stream);
}
void gather_rows(const float* src, const std::int32_t* index, half* dst, std::int64_t rows, std::int64_t cols,
                 cudaStream_t stream) {
  launch_gather(src, index, dst, rows, cols, stream);
}
void gather_rows(const std::int32_t* src, const std::int32_t* index, std::int32_t* dst, std::int64_t rows,
                 std::int64_t cols, cudaStream_t stream) {
  launch_gather(src, index, dst, rows, cols, stream);
}

void crossentropy_probs(const ProbLossArgs& a, const float* pred, float* dpred, cudaStream_t stream) {
  launch_ce(a, pred, dpred, stream);
}
void crossentropy_probs(const ProbLossArgs& a, const half* pred, half* dpred, cudaStream_t stream) {
  launch_ce(a, pred, dpred, stream);
}
void mse_loss(const ProbLossArgs& a, const float* pred, float* dpred, cudaStream_t stream) {
  launch_mse(a, pred, dpred, stream);
}
void mse_loss(const ProbLossArgs& a, const half* pred, half* dpred, cudaStream_t stream) {
  launch_mse(a, pred, dpred, stream);
}
void accumulate_metrics(const MetricArgs& a, const float* pred, double* acc, cudaStream_t stream) {
  launch_metrics(a, pred, acc, stream);
}
void accumulate_metrics(const MetricArgs& a, const half* pred, double* acc, cudaStream_t stream) {
  launch_metrics(a, pred, acc, stream);
}

}  // namespace tilenet::kernels
