// Helpers for the CNN-op GPU tests: device copies of host data (optionally placed a few elements
// into their buffer to break alignment), outputs poisoned with 0xFF bytes (NaN for f32/f16, -1 for
// i32) so an unwritten element fails, and host <-> float conversions.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <type_traits>
#include <vector>

#include "tensor/error.h"
#include "tensor/half.h"
#include "tensor/memory.h"
#include "tensor/stream.h"
#include "test_util.h"

namespace tilenet::test {

inline float as_float(float v) { return v; }
inline float as_float(half v) { return half_to_float(v); }
inline float as_float(std::int32_t v) { return static_cast<float>(v); }

template <typename T>
std::vector<T> from_floats(const std::vector<float>& v) {
  std::vector<T> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if constexpr (std::is_same_v<T, half>)
      r[i] = float_to_half(v[i]);
    else
      r[i] = static_cast<T>(v[i]);
  }
  return r;
}

template <typename T>
std::vector<float> floats(const std::vector<T>& v) {
  std::vector<float> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = as_float(v[i]);
  return r;
}

template <typename T>
class DevArray {
 public:
  explicit DevArray(std::int64_t n, int offset = 0)
      : n_(n), buf_((static_cast<std::size_t>(n) + offset + 8) * sizeof(T), 0, cuda::current_stream()) {
    ptr_ = buf_.as<T>() + offset;
    poison();
  }
  DevArray(const std::vector<T>& host, int offset = 0) : DevArray(static_cast<std::int64_t>(host.size()), offset) {
    upload(host);
  }
  T* get() const { return ptr_; }
  std::int64_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    if (!host.empty())
      TILENET_CUDA_CHECK(cudaMemcpyAsync(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice,
                                         cuda::current_stream()));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
  }
  void poison() {
    TILENET_CUDA_CHECK(cudaMemsetAsync(ptr_, 0xFF, static_cast<std::size_t>(n_) * sizeof(T), cuda::current_stream()));
  }
  std::vector<T> host() const {
    std::vector<T> h(n_);
    TILENET_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
    if (n_)
      TILENET_CUDA_CHECK(cudaMemcpyAsync(h.data(), ptr_, h.size() * sizeof(T), cudaMemcpyDeviceToHost,
                                         cuda::current_stream()));
    TILENET_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
    return h;
  }
  std::vector<float> host_floats() const { return floats(host()); }

 private:
  std::int64_t n_;
  DeviceBuffer buf_;
  T* ptr_ = nullptr;
};

// Tolerances per storage type: f16 outputs may differ from the double reference by a rounding.
template <typename T>
constexpr double rtol_for(double f32) {
  return std::is_same_v<T, half> ? 2e-3 : f32;
}

}  // namespace tilenet::test
