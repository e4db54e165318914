// The safety net in front of Auto's use of the Hopper wgmma kernels (which went in without ever
// running on a GPU): the first time GemmAlgo::Auto would pick wgmma on a device, or an fp16
// convolution with Conv2dAlgo::Auto runs there, a self-check of the GEMM and convolution wgmma
// kernels runs; if it fails, Auto stops choosing wgmma (GEMM and convolution) on that device and
// says so once on stderr. An explicit GemmAlgo::Wgmma or Conv2dAlgo::ImplicitGemmWgmma request
// still runs the kernel, so the tests see its bugs.
// Pure host code: the check is passed in, so the gating logic is testable without a GPU.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

namespace tilenet::kernels {

class WgmmaAutoGate {
 public:
  // Returns "" when the wgmma kernels match the reference, else a description of the failing
  // case(s), first one first. May throw: OutOfMemoryError means the check could not run (no
  // verdict is kept; the check is tried again after kOutOfMemoryBackoff more calls, so a full
  // device does not pay for a failing check at every GEMM); any other throw counts as a failure.
  using Check = std::function<std::string()>;

  // The verdict already reached for `device`, if any.
  std::optional<bool> verdict(int device) const;

  // Whether Auto may use wgmma on `device`. The first call for a device runs `check` (concurrent
  // callers wait for it, so it runs once) and keeps the verdict; a failure writes one line to
  // `warn` naming the device and the first failing case.
  bool allowed(int device, const Check& check, std::ostream& warn);

  static constexpr int kOutOfMemoryBackoff = 256;

 private:
  mutable std::mutex mu_;
  std::map<int, bool> verdicts_;
  std::map<int, int> calls_until_retry_;  // after an out-of-memory check: calls left before the next try
};

// The process-wide gate the CUDA dispatcher (kernels/gemm.cu) consults.
WgmmaAutoGate& wgmma_auto_gate();

// True when the environment variable TILENET_DISABLE_WGMMA is set to anything but "" or "0":
// Auto then never picks wgmma (and runs no self-check), a switch for users who meet a wgmma
// problem the self-check cannot see (a hang or a device fault). Read at every call.
bool wgmma_disabled_by_environment();

}  // namespace tilenet::kernels
