// Helpers of bench_cnn_ops: the stream, rotating operand sets, CUDA-event timing with GB/s
// counters against the copy bandwidth, random fills, cuDNN descriptors.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_device.h"
#include "kernels/elementwise.h"
#include "kernels/rng.h"
#include "tensor/device.h"
#include "tensor/error.h"

#ifdef TILENET_HAVE_CUDNN
#include <cudnn.h>
#define DNN_CHECK(x)                                                                                  \
  do {                                                                                                \
    cudnnStatus_t st_ = (x);                                                                          \
    if (st_ != CUDNN_STATUS_SUCCESS)                                                                  \
      throw tilenet::Error(std::string(#x) + " failed: " + cudnnGetErrorString(st_));                 \
  } while (0)
#endif

namespace tilenet::bench {

inline cudaStream_t g_stream = nullptr;
inline double g_copy_gbps = 0.0;

enum class Dt { f32, f16 };
inline const char* dt_name(Dt d) { return d == Dt::f32 ? "f32" : "f16"; }
inline std::size_t dt_size(Dt d) { return d == Dt::f32 ? 4 : 2; }

// Device memory freed at scope exit.
struct DevMem {
  void* p = nullptr;
  explicit DevMem(std::size_t bytes) { TILENET_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 16)); }
  ~DevMem() { cudaFree(p); }
  DevMem(const DevMem&) = delete;
  DevMem& operator=(const DevMem&) = delete;
};

// Uniform random values in [lo, hi) of dtype d (never zeros: zeros can run faster).
inline void fill(void* p, std::int64_t n, Dt d, float lo, float hi, std::uint64_t seed) {
  if (d == Dt::f32) {
    kernels::rng_uniform(static_cast<float*>(p), n, lo, hi, seed, 0, g_stream);
    return;
  }
  const std::int64_t chunk = 1 << 24;
  DevMem tmp(chunk * sizeof(float));
  for (std::int64_t i = 0; i < n; i += chunk) {
    const std::int64_t m = std::min(chunk, n - i);
    kernels::rng_uniform(static_cast<float*>(tmp.p), m, lo, hi, seed, static_cast<std::uint64_t>(i), g_stream);
    kernels::cast(static_cast<const float*>(tmp.p), static_cast<half*>(p) + i, m, g_stream);
  }
  TILENET_CUDA_CHECK(cudaStreamSynchronize(g_stream));
}

// K sets of operand buffers (sizes in bytes), K from rotating_sets (bench/bench_device.h) over
// `touched`, the bytes one launch reads and writes (0: all the buffers): what a launch could find
// left in L2 by the one before is what it touches, not what the set holds.
struct Sets {
  std::vector<std::vector<std::unique_ptr<DevMem>>> sets;
  explicit Sets(const std::vector<std::size_t>& sizes, std::size_t touched = 0) {
    std::size_t per = 0;
    for (auto b : sizes) per += b;
    const std::size_t k = rotating_sets(touched > 0 ? touched : per, 64);
    sets.resize(k);
    for (auto& s : sets)
      for (auto b : sizes) s.push_back(std::make_unique<DevMem>(b));
  }
  void* at(std::size_t set, int i) const { return sets[set % sets.size()][i]->p; }
  std::size_t count() const { return sets.size(); }
};

// Times launch(set) with CUDA events, kLaunchesPerTiming launches at a time (bench_device.h),
// rotating sets; sets GB/s counters from `bytes`.
inline void time_it(benchmark::State& st, const Sets& sets, const std::function<void(std::size_t)>& launch, double bytes,
             double pass_bytes = 0) {
  LaunchTimer timer;
  for (std::size_t i = 0; i < sets.count(); ++i) launch(i);  // warm-up
  TILENET_CUDA_CHECK(cudaStreamSynchronize(g_stream));
  double total = 0;
  std::size_t i = 0;
  for (auto _ : st) {
    const double per_launch = timer.per_launch(g_stream, kLaunchesPerTiming, [&] { launch(i++); });
    st.SetIterationTime(per_launch);
    total += per_launch;
  }
  const double gbps = bytes * static_cast<double>(st.iterations()) / total / 1e9;
  st.counters["GB/s"] = gbps;
  st.counters["vs_copy"] = gbps / g_copy_gbps;
  if (pass_bytes > 0) {
    const double p = pass_bytes * static_cast<double>(st.iterations()) / total / 1e9;
    st.counters["GB/s_passes"] = p;
    st.counters["vs_copy_passes"] = p / g_copy_gbps;
  }
}

inline void copy_bench(benchmark::State& st, std::size_t bytes) {
  Sets sets({bytes, bytes});
  time_it(st, sets, [&](std::size_t i) {
    TILENET_CUDA_CHECK(cudaMemcpyAsync(sets.at(i, 1), sets.at(i, 0), bytes, cudaMemcpyDeviceToDevice, g_stream));
  }, 2.0 * bytes);
}

inline double measure_copy_gbps(std::size_t bytes) {
  DevMem src(bytes), dst(bytes);
  LaunchTimer timer;
  std::vector<double> t;
  for (int i = 0; i < 25; ++i) {
    const double s = timer.per_launch(g_stream, 1, [&] {
      TILENET_CUDA_CHECK(cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice, g_stream));
    });
    if (i >= 5) t.push_back(s);
  }
  std::sort(t.begin(), t.end());
  return 2.0 * bytes / t[t.size() / 2] / 1e9;
}

#ifdef TILENET_HAVE_CUDNN
inline cudnnHandle_t g_dnn = nullptr;
inline cudnnDataType_t dnn_type(Dt d) { return d == Dt::f32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_HALF; }
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(cudnnTensorFormat_t fmt, Dt dt, int n, int c, int h, int w) {
    DNN_CHECK(cudnnCreateTensorDescriptor(&d));
    DNN_CHECK(cudnnSetTensor4dDescriptor(d, fmt, dnn_type(dt), n, c, h, w));
  }
  TensorDesc() { DNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
};
#endif

}  // namespace tilenet::bench
