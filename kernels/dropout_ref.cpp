// CPU reference for kernels/dropout.h: the same Philox stream as the CUDA kernel.
#include "kernels/dropout.h"
#include "kernels/philox.h"
#include "kernels/ref_util.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {

void check_dropout_rate(float rate, const char* op) {
  TILENET_CHECK(rate >= 0.0f && rate < 1.0f, ValueError, op, ": rate must be in [0, 1), got ", rate);
}

namespace {

template <typename T>
void dropout_t(const T* x, T* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset) {
  check_dropout_rate(rate, "dropout_ref");
  TILENET_CHECK(n >= 0, ValueError, "dropout_ref: n must be >= 0, got ", n);
  // The scale is rounded to float first, as the GPU applies it.
  const float scale = 1.0f / (1.0f - rate);
  parallel_for(0, n, 1 << 14, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const bool keep = philox_uniform_at(seed, offset + static_cast<std::uint64_t>(i)) >= rate;
      y[i] = ref::st<T>(keep ? static_cast<double>(static_cast<float>(ref::ld(x[i])) * scale) : 0.0);
    }
  });
}

}  // namespace

void dropout_ref(const float* x, float* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset) {
  dropout_t(x, y, n, rate, seed, offset);
}
void dropout_ref(const half* x, half* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset) {
  dropout_t(x, y, n, rate, seed, offset);
}
void dropout_ref(const double* x, double* y, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset) {
  check_dropout_rate(rate, "dropout_ref");
  const double scale = 1.0 / (1.0 - static_cast<double>(rate));
  for (std::int64_t i = 0; i < n; ++i)
    y[i] = philox_uniform_at(seed, offset + static_cast<std::uint64_t>(i)) >= rate ? x[i] * scale : 0.0;
}

void dropout_mask_ref(std::uint8_t* mask, std::int64_t n, float rate, std::uint64_t seed, std::uint64_t offset) {
  check_dropout_rate(rate, "dropout_mask_ref");
  for (std::int64_t i = 0; i < n; ++i)
    mask[i] = philox_uniform_at(seed, offset + static_cast<std::uint64_t>(i)) >= rate ? 1 : 0;
}

}  // namespace tilenet::kernels
