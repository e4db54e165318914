// Autotuning of the convolution's Auto (kernels/conv2d.h): the process-wide switch and results,
// and the search that times the candidates of conv2d_plan.cu's autotune_candidates with the
// launch's own trial runs. Host code.
#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <tuple>

#include "kernels/conv2d_plan.cuh"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace conv {
namespace {

// Timed runs per candidate, after one untimed run (first-launch costs stay out of the figure).
// The CPU emulator's clock says nothing (every interval reads 1 ms): one run each there.
#ifdef TILENET_EMU
constexpr int kTimedRuns = 1;
constexpr bool kWarmupRun = false;
#else
constexpr int kTimedRuns = 3;
constexpr bool kWarmupRun = true;
#endif

std::atomic<bool> g_autotune{false};

using Key = std::tuple<int, std::array<int, 15>, int, bool, bool, bool>;  // device, shape, pass, hp, va, vb

Key make_key(int dev, const Conv2dShape& s, Conv2dPass pass, bool hp, const Modes& md) {
  const std::array<int, 15> shape = {s.n,        s.h,         s.w,          s.c,         s.k,
                                     s.r,        s.s,         s.pad_top,    s.pad_left,  s.pad_bottom,
                                     s.pad_right, s.stride_h, s.stride_w,   s.dilation_h, s.dilation_w};
  return {dev, shape, static_cast<int>(pass), hp, md.va, md.vb};
}

struct Table {
  std::mutex mu;
  std::map<Key, std::size_t> index;  // into results
  std::vector<Conv2dAutotuneResult> results;
};
Table& table() {
  static Table t;
  return t;
}

std::size_t candidate_workspace(const Conv2dShape& sh, Conv2dPass pass, bool hp, const Modes& md, Conv2dAlgo a) {
  if (a == Conv2dAlgo::Im2colGemm) return conv2d_workspace_bytes(sh, pass, hp, a);
  return igemm_workspace(sh, to_pass(pass), hp, md, a);
}

}  // namespace

bool autotune_on() { return g_autotune.load(std::memory_order_relaxed); }

std::optional<Conv2dAlgo> autotuned(const Conv2dShape& sh, Conv2dPass pass, bool hp, const Modes& md,
                                    std::size_t ws_have, cudaStream_t stream, TrialRef trial) {
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  const Key key = make_key(dev, sh, pass, hp, md);
  Table& t = table();
  {
    std::lock_guard<std::mutex> lock(t.mu);
    auto it = t.index.find(key);
    if (it != t.index.end()) {  // the fastest recorded that this launch's workspace allows
      for (const Conv2dAlgoTime& at : t.results[it->second].times)
        if (at.workspace_bytes <= ws_have) return at.algo;
      return std::nullopt;
    }
  }
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  TILENET_CUDA_CHECK(cudaStreamIsCapturing(stream, &capturing));
  if (capturing != cudaStreamCaptureStatusNone) return std::nullopt;  // no waiting on events in a capture

  Conv2dAutotuneResult r;
  r.device = dev;
  r.shape = sh;
  r.pass = pass;
  r.half_inputs = hp;
  r.vector_loads = md.va && md.vb;
  try {
    LaunchTimer timer;
    for (Conv2dAlgo a : autotune_candidates(sh, to_pass(pass), hp, md, heuristic_algo(sh, pass, hp))) {
      const std::size_t need = candidate_workspace(sh, pass, hp, md, a);
      if (need > ws_have) continue;
      if (kWarmupRun) trial(a);
      const double s = timer.per_launch(stream, kTimedRuns, [&] { trial(a); });
      r.times.push_back({a, static_cast<float>(s * 1e3), need});
    }
  } catch (const OutOfMemoryError&) {
    return std::nullopt;  // a scratch dw could not be had: the rule's pick, and a search next time
  }
  if (r.times.empty()) return std::nullopt;
  std::stable_sort(r.times.begin(), r.times.end(),
                   [](const Conv2dAlgoTime& a, const Conv2dAlgoTime& b) { return a.ms < b.ms; });
  std::lock_guard<std::mutex> lock(t.mu);
  auto [it, fresh] = t.index.emplace(key, t.results.size());
  if (fresh) t.results.push_back(r);
  return t.results[it->second].times.front().algo;  // a thread that searched at the same time keeps its pick
}

std::optional<Conv2dAlgo> autotuned_pick(const Conv2dShape& sh, Conv2dPass pass, bool hp) {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  const Key key = make_key(dev, sh, pass, hp, aligned_loader_modes(sh, to_pass(pass), hp));
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.index.find(key);
  if (it == t.index.end()) return std::nullopt;
  return t.results[it->second].times.front().algo;
}

}  // namespace conv

void conv2d_set_autotune(bool on) { conv::g_autotune.store(on, std::memory_order_relaxed); }
bool conv2d_autotune() { return conv::autotune_on(); }

std::vector<Conv2dAutotuneResult> conv2d_autotune_results() {
  conv::Table& t = conv::table();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.results;
}

void conv2d_autotune_reset() {
  conv::Table& t = conv::table();
  std::lock_guard<std::mutex> lock(t.mu);
  t.index.clear();
  t.results.clear();
}

}  // namespace tilenet::kernels
