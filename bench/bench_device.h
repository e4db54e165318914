// Device facts the benchmarks size their rotating operand sets by.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace tilenet::bench {

// The current device's L2 in bytes (H100 50 MB, H200 60 MB); 60 MB if the query fails.
inline std::size_t l2_bytes() {
  static const std::size_t b = [] {
    int v = 0;
    return cudaDeviceGetAttribute(&v, cudaDevAttrL2CacheSize, 0) == cudaSuccess && v > 0 ? static_cast<std::size_t>(v)
                                                                                        : std::size_t{60} << 20;
  }();
  return b;
}

}  // namespace tilenet::bench
