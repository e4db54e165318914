// What the benchmarks share: the device facts they size their rotating operand sets by, and
// their CUDA-event timing.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>

#include "kernels/launch.h"

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

// What the rotating copies of one case's operands add up to at least (almost 4x an H100's L2).
constexpr std::size_t kRotateBytes = 192u << 20;

// How many copies of an operand set (set_bytes) a benchmark case cycles through, one per timed
// launch, so that a launch does not find its operands left in L2 by the one before: one when a
// set is at least twice the L2 (little of it could survive), else enough copies to add up to
// kRotateBytes, at least 2 and at most max_sets.
inline std::size_t rotating_sets(std::size_t set_bytes, std::size_t max_sets) {
  if (set_bytes >= 2 * l2_bytes()) return 1;
  const std::size_t k = (kRotateBytes + set_bytes - 1) / std::max<std::size_t>(set_bytes, 1);
  return std::min(max_sets, std::max<std::size_t>(2, k));
}

// Launches per timing of the conv and CNN-op benchmarks: queued back to back, so that the host's
// time to issue a launch (tilenet's checks and chooser, cuDNN's per-call setup) overlaps the
// kernels before it, and only the first one's issue latency (1/kLaunchesPerTiming of the figure)
// is timed with the kernels. Those cases report the time of one launch, and register their
// MinTime divided by this.
constexpr int kLaunchesPerTiming = 8;

// The CUDA-event timing of every benchmark (kernels/launch.h).
using kernels::LaunchTimer;

}  // namespace tilenet::bench
