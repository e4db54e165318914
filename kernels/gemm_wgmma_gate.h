// The safety net in front of Auto's use of the Hopper wgmma kernels (which went in without ever
// running on a GPU): the first time GemmAlgo::Auto would pick wgmma on a device (or
// gemm_settle_auto runs), a self-check of the wgmma GEMM runs; if it fails, GemmAlgo::Auto stops
// choosing wgmma on that device and says so once on stderr. The Hopper convolution tile has a
// gate of its own (its own self-check, settled at the first fp16 Conv2dAlgo::Auto convolution or
// by gemm_settle_auto), so a fault in one kernel family does not turn the other off. An explicit
// GemmAlgo::Wgmma or Conv2dAlgo::ImplicitGemmWgmma request still runs the kernel, so the tests
// see its bugs.
// Pure host code: the check is passed in, so the gating logic is testable without a GPU.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace tilenet::kernels {

class WgmmaAutoGate {
 public:
  // `what` names the kernels in the stderr line ("gemm", "conv2d"); `instead` says what Auto
  // runs after a failure.
  explicit WgmmaAutoGate(std::string what = "gemm", std::string instead = "GemmAlgo::Auto uses mma_sync instead of wgmma")
      : what_(std::move(what)), instead_(std::move(instead)) {}

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
  std::string what_, instead_;
  mutable std::mutex mu_;
  std::map<int, bool> verdicts_;
  std::map<int, int> calls_until_retry_;  // after an out-of-memory check: calls left before the next try
};

// The process-wide gates: the GEMM dispatcher's (kernels/gemm.cu) and the convolution chooser's
// (kernels/conv2d_plan.cu).
WgmmaAutoGate& wgmma_auto_gate();
WgmmaAutoGate& wgmma_conv_auto_gate();

// True when the environment variable TILENET_DISABLE_WGMMA is set to anything but "" or "0":
// Auto then never picks wgmma (and runs no self-check), a switch for users who meet a wgmma
// problem the self-check cannot see (a hang or a device fault). Read at every call.
bool wgmma_disabled_by_environment();

}  // namespace tilenet::kernels
