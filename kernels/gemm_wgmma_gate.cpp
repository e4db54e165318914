#include "kernels/gemm_wgmma_gate.h"

#include <cstdlib>
#include <cstring>
#include <exception>

#include "tensor/error.h"

namespace tilenet::kernels {

std::optional<bool> WgmmaAutoGate::verdict(int device) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = verdicts_.find(device);
  if (it == verdicts_.end()) return std::nullopt;
  return it->second;
}

bool WgmmaAutoGate::allowed(int device, const Check& check, std::ostream& warn) {
  // The lock is held while the check runs: a second caller for the same device must wait for the
  // verdict rather than run the check again (or choose wgmma before it is known to be right).
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = verdicts_.find(device);
  if (it != verdicts_.end()) return it->second;
  int& wait = calls_until_retry_[device];
  if (wait > 0) {
    --wait;
    return false;
  }
  std::string failure;
  try {
    failure = check();
  } catch (const OutOfMemoryError&) {
    wait = kOutOfMemoryBackoff;  // the check could not run: no verdict yet, the portable path meanwhile
    return false;
  } catch (const std::exception& e) {
    failure = std::string("the check threw: ") + e.what();
  } catch (...) {
    failure = "the check threw an unknown exception";
  }
  const bool ok = failure.empty();
  if (!ok) {
    const std::string first = failure.substr(0, failure.find('\n'));
    warn << "tilenet: " << what_ << ": wgmma self-check failed on CUDA device " << device << " (" << first
         << "); " << instead_ << " on this device" << std::endl;
  }
  verdicts_[device] = ok;
  return ok;
}

bool wgmma_disabled_by_environment() {
  const char* v = std::getenv("TILENET_DISABLE_WGMMA");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

WgmmaAutoGate& wgmma_auto_gate() {
  static WgmmaAutoGate gate;
  return gate;
}

WgmmaAutoGate& wgmma_conv_auto_gate() {
  static WgmmaAutoGate gate("conv2d", "Conv2dAlgo::Auto uses the mma_sync tiles instead of the wgmma tile");
  return gate;
}

}  // namespace tilenet::kernels
