// Device buffer for the GPU GEMM tests: cudaMalloc'd, freed on scope exit (at least one element,
// so an empty operand still has a valid, distinct pointer).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>

#include "tensor/error.h"

namespace tilenet::test {

template <typename T>
struct DevBuf {
  T* p = nullptr;
  std::size_t n = 0;
  explicit DevBuf(std::size_t count) : n(count) {
    TILENET_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), std::max<std::size_t>(n, 1) * sizeof(T)));
  }
  std::size_t bytes() const { return n * sizeof(T); }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
};

}  // namespace tilenet::test
