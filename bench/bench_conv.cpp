// Convolution benchmark: tilenet against cuDNN on AlexNet's five conv layers (torchvision
// variant: conv1 3->64 11x11 s4 p2 on 224x224; conv2 64->192 5x5 p2 on 27x27; conv3 192->384,
// conv4 384->256, conv5 256->256, 3x3 p1 on 13x13), batch 128, NHWC/KRSC, the three passes, fp32
// and fp16, on the same buffers in the same process.
//   conv/<f32|f16>/<fwd|bwd_data|bwd_filter>/<impl>/alexnet_conv<1..5>
// impl: cudnn (its fastest algorithm by cudnnFind*AlgorithmEx, NHWC; fp32 with CUDNN_FMA_MATH so
// TF32 is off, fp16 with CUDNN_TENSOR_OP_MATH), tilenet (Auto), tilenet_<algo> (each algorithm),
// tilenet_autotune (Auto with conv2d_set_autotune on: the fastest candidate by its own search).
// Each tilenet case is validated against cuDNN's output once before timing (counter max_rel_err
// = max |tilenet - cudnn| / max |cudnn|). CUDA events around 8 back-to-back launches + manual time
// per launch, warm-up first, random data; operand sets rotated per launch when one fits in L2
// (counter rotating_sets).
// Counters: TFLOPS (2*M*N*K per pass). Without a GPU it prints a message and exits 0.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_device.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/rng.h"
#include "tensor/error.h"
#include "tensor/half.h"

using namespace tilenet;
using kernels::Conv2dAlgo;
using kernels::Conv2dPass;
using kernels::Conv2dShape;

namespace {

// A failed call throws: the case reports it (SkipWithError) and the other cases still run.
#define CK(expr)                                                                                       \
  do {                                                                                                 \
    cudaError_t e_ = (expr);                                                                           \
    if (e_ != cudaSuccess) throw Error(std::string(#expr) + ": " + cudaGetErrorString(e_));            \
  } while (0)
#define DNN(expr)                                                                                      \
  do {                                                                                                 \
    cudnnStatus_t s_ = (expr);                                                                         \
    if (s_ != CUDNN_STATUS_SUCCESS) throw Error(std::string(#expr) + ": " + cudnnGetErrorString(s_));  \
  } while (0)

constexpr int kBatch = 128;


Conv2dShape layer(int i) {
  Conv2dShape sh;
  sh.n = kBatch;
  switch (i) {
    case 1: sh.h = sh.w = 224; sh.c = 3; sh.k = 64; sh.r = sh.s = 11; sh.stride_h = sh.stride_w = 4; sh.pad_top = sh.pad_left = sh.pad_bottom = sh.pad_right = 2; break;
    case 2: sh.h = sh.w = 27; sh.c = 64; sh.k = 192; sh.r = sh.s = 5; sh.pad_top = sh.pad_left = sh.pad_bottom = sh.pad_right = 2; break;
    case 3: sh.h = sh.w = 13; sh.c = 192; sh.k = 384; sh.r = sh.s = 3; sh.pad_top = sh.pad_left = sh.pad_bottom = sh.pad_right = 1; break;
    case 4: sh.h = sh.w = 13; sh.c = 384; sh.k = 256; sh.r = sh.s = 3; sh.pad_top = sh.pad_left = sh.pad_bottom = sh.pad_right = 1; break;
    default: sh.h = sh.w = 13; sh.c = 256; sh.k = 256; sh.r = sh.s = 3; sh.pad_top = sh.pad_left = sh.pad_bottom = sh.pad_right = 1; break;
  }
  return sh;
}

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t x;
    DNN(cudnnCreate(&x));
    return x;
  }();
  return h;
}

// One layer in one precision: device buffers, cuDNN descriptors and its chosen algorithms, and
// cuDNN's outputs (host) for validation. Built on first use, kept for the whole run.
struct Problem {
  Conv2dShape sh;
  bool hp = false;
  std::size_t esize = 4;
  // Each of x, w, dy, y, dx, dw holds `sets` copies (bytes xb, wb, yb apart), rotated per timed
  // iteration when one set fits in L2; cuDNN's algorithm search and the validation use set 0.
  int sets = 1;
  std::size_t xb = 0, wb = 0, yb = 0;
  void *x = nullptr, *w = nullptr, *dy = nullptr, *y = nullptr, *dx = nullptr, *dw = nullptr, *ws = nullptr;
  std::size_t ws_bytes = 0;
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd[3];  // per pass (each with the math type of its algorithm)
  cudnnConvolutionFwdAlgo_t fwd_algo;
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo;
  std::size_t cudnn_ws[3] = {0, 0, 0};
  std::vector<float> ref[3];  // cuDNN's y, dx, dw
  std::string cudnn_label[3];
  std::string cudnn_failed[3];  // why cuDNN's algorithm search failed for a pass, if it did
  std::string failed;           // why setup failed, if it did

  cudnnDataType_t dt() const { return hp ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT; }
  static void* at(void* base, std::size_t bytes, int s) { return static_cast<char*>(base) + bytes * s; }
};

void fill_random(void* p, std::int64_t n, bool hp, std::uint64_t seed) {
  // Uniform (-1, 1) through tilenet's counter-based RNG (same values every run).
  if (hp) {
    float* tmp;
    CK(cudaMalloc(reinterpret_cast<void**>(&tmp), n * 4));
    kernels::rng_uniform(tmp, n, -1.0f, 1.0f, seed, 0, nullptr);
    kernels::cast(tmp, static_cast<half*>(p), n, nullptr);
    CK(cudaDeviceSynchronize());
    CK(cudaFree(tmp));
  } else {
    kernels::rng_uniform(static_cast<float*>(p), n, -1.0f, 1.0f, seed, 0, nullptr);
  }
}

std::vector<float> to_host(const void* p, std::int64_t n, bool hp) {
  std::vector<float> out(n);
  CK(cudaDeviceSynchronize());
  if (hp) {
    std::vector<half> h(n);
    CK(cudaMemcpy(h.data(), p, n * 2, cudaMemcpyDeviceToHost));
    for (std::int64_t i = 0; i < n; ++i) out[i] = half_to_float(h[i]);
  } else {
    CK(cudaMemcpy(out.data(), p, n * 4, cudaMemcpyDeviceToHost));
  }
  return out;
}

double max_rel_err(const std::vector<float>& got, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    num = std::isnan(d) ? INFINITY : std::max(num, d);
    den = std::max(den, std::fabs(static_cast<double>(ref[i])));
  }
  return den > 0 ? num / den : num;
}

// cuDNN's fastest successful algorithm; in fp32 only plain FMA math (no Tensor Cores, no TF32).
template <typename Perf>
int pick(const Perf* perf, int n, bool hp) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && (hp || perf[i].mathType == CUDNN_FMA_MATH)) return i;
  throw Error(std::string("bench_conv: cuDNN found no usable ") + (hp ? "fp16" : "fp32 FMA-math") + " algorithm");
}

// cuDNN's fastest usable algorithm for one pass (cudnnFind*AlgorithmEx on set 0), with the math
// type it was found with set on that pass's descriptor.
void find_cudnn(Problem& P, int pass, void* fws, std::size_t find_ws) {
  const char* names[3] = {"fwd", "bwd_data", "bwd_filter"};
  int n = 0;
  // Keeps perf[pick]: its algorithm (into `algo`), workspace and math type.
  auto keep = [&](const auto* perf, auto& algo) {
    const auto& best = perf[pick(perf, n, P.hp)];
    algo = best.algo;
    P.cudnn_ws[pass] = best.memory;
    DNN(cudnnSetConvolutionMathType(P.cd[pass], best.mathType));
    P.cudnn_label[pass] = std::string("cudnn ") + names[pass] + " algo " + std::to_string(best.algo) + " math " +
                          std::to_string(best.mathType);
  };
  if (pass == 0) {
    cudnnConvolutionFwdAlgoPerf_t perf[16];
    DNN(cudnnFindConvolutionForwardAlgorithmEx(handle(), P.xd, P.x, P.wd, P.w, P.cd[0], P.yd, P.y, 16, &n, perf, fws,
                                               find_ws));
    keep(perf, P.fwd_algo);
  } else if (pass == 1) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[16];
    DNN(cudnnFindConvolutionBackwardDataAlgorithmEx(handle(), P.wd, P.w, P.yd, P.dy, P.cd[1], P.xd, P.dx, 16, &n, perf,
                                                    fws, find_ws));
    keep(perf, P.bwd_data_algo);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
    DNN(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle(), P.xd, P.x, P.yd, P.dy, P.cd[2], P.wd, P.dw, 16, &n,
                                                      perf, fws, find_ws));
    keep(perf, P.bwd_filter_algo);
  }
}

void setup(Problem& P, int li, bool hp) {
  P.sh = layer(li);
  P.hp = hp;
  P.esize = hp ? 2 : 4;
  const Conv2dShape& sh = P.sh;
  P.xb = sh.x_elems() * P.esize, P.wb = sh.w_elems() * P.esize, P.yb = sh.y_elems() * P.esize;
  // One pass touches three of the six tensors (x, w, y / dy, w, dx / x, dy, dw): what could stay
  // in L2 from one timed iteration to the next.
  P.sets = static_cast<int>(bench::rotating_sets(P.xb + P.wb + P.yb, 16));
  CK(cudaMalloc(&P.x, P.xb * P.sets));
  CK(cudaMalloc(&P.w, P.wb * P.sets));
  CK(cudaMalloc(&P.dy, P.yb * P.sets));
  CK(cudaMalloc(&P.y, P.yb * P.sets));
  CK(cudaMalloc(&P.dx, P.xb * P.sets));
  CK(cudaMalloc(&P.dw, P.wb * P.sets));
  fill_random(P.x, sh.x_elems() * P.sets, hp, 1000 + li);
  fill_random(P.w, sh.w_elems() * P.sets, hp, 2000 + li);
  fill_random(P.dy, sh.y_elems() * P.sets, hp, 3000 + li);
  for (Conv2dAlgo a : kernels::conv2d_algos())
    for (Conv2dPass pass : {Conv2dPass::forward, Conv2dPass::backward_data, Conv2dPass::backward_filter})
      P.ws_bytes = std::max(P.ws_bytes, kernels::conv2d_workspace_bytes(sh, pass, hp, a));

  DNN(cudnnCreateTensorDescriptor(&P.xd));
  DNN(cudnnCreateTensorDescriptor(&P.yd));
  DNN(cudnnCreateFilterDescriptor(&P.wd));
  DNN(cudnnSetTensor4dDescriptor(P.xd, CUDNN_TENSOR_NHWC, P.dt(), sh.n, sh.c, sh.h, sh.w));
  DNN(cudnnSetTensor4dDescriptor(P.yd, CUDNN_TENSOR_NHWC, P.dt(), sh.n, sh.k, sh.p(), sh.q()));
  DNN(cudnnSetFilter4dDescriptor(P.wd, P.dt(), CUDNN_TENSOR_NHWC, sh.k, sh.c, sh.r, sh.s));
  for (auto& d : P.cd) {
    DNN(cudnnCreateConvolutionDescriptor(&d));
    DNN(cudnnSetConvolution2dDescriptor(d, sh.pad_top, sh.pad_left, sh.stride_h, sh.stride_w, sh.dilation_h,
                                        sh.dilation_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DNN(cudnnSetConvolutionMathType(d, hp ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
  const std::size_t find_ws = std::size_t{2} << 30;
  void* fws = nullptr;
  CK(cudaMalloc(&fws, find_ws));
  const std::unique_ptr<void, cudaError_t (*)(void*)> fws_owner(fws, cudaFree);  // freed also when find throws
  // Each pass's search on its own: a pass cuDNN cannot do (no FMA-math algorithm in fp32, say)
  // fails its cuDNN case, and its tilenet cases are timed without the cross-check.
  for (int pass = 0; pass < 3; ++pass) {
    try {
      find_cudnn(P, pass, fws, find_ws);
    } catch (const std::exception& e) {
      P.cudnn_failed[pass] = e.what();
    }
  }
  P.ws_bytes = std::max({P.ws_bytes, P.cudnn_ws[0], P.cudnn_ws[1], P.cudnn_ws[2], std::size_t{256}});
  CK(cudaMalloc(&P.ws, P.ws_bytes));
}

// Built on first use and kept; a failed setup is remembered and reported by every case of it.
Problem& problem(int li, bool hp) {
  static std::map<std::pair<int, bool>, std::unique_ptr<Problem>> cache;
  auto& slot = cache[{li, hp}];
  if (!slot) {
    slot = std::make_unique<Problem>();
    try {
      setup(*slot, li, hp);
    } catch (const std::exception& e) {
      slot->failed = e.what();
      for (void* p : {slot->x, slot->w, slot->dy, slot->y, slot->dx, slot->dw, slot->ws}) cudaFree(p);  // null: no-op
      slot->x = slot->w = slot->dy = slot->y = slot->dx = slot->dw = slot->ws = nullptr;
    }
  }
  if (!slot->failed.empty())
    throw Error("alexnet_conv" + std::to_string(li) + (hp ? " f16" : " f32") + " setup failed: " + slot->failed);
  return *slot;
}

void run_cudnn(Problem& P, int pass, int s) {
  const float one = 1.0f, zero = 0.0f;
  void *x = Problem::at(P.x, P.xb, s), *w = Problem::at(P.w, P.wb, s), *dy = Problem::at(P.dy, P.yb, s);
  switch (pass) {
    case 0:
      DNN(cudnnConvolutionForward(handle(), &one, P.xd, x, P.wd, w, P.cd[0], P.fwd_algo, P.ws, P.cudnn_ws[0], &zero,
                                  P.yd, Problem::at(P.y, P.yb, s)));
      break;
    case 1:
      DNN(cudnnConvolutionBackwardData(handle(), &one, P.wd, w, P.yd, dy, P.cd[1], P.bwd_data_algo, P.ws,
                                       P.cudnn_ws[1], &zero, P.xd, Problem::at(P.dx, P.xb, s)));
      break;
    default:
      DNN(cudnnConvolutionBackwardFilter(handle(), &one, P.xd, x, P.yd, dy, P.cd[2], P.bwd_filter_algo, P.ws,
                                         P.cudnn_ws[2], &zero, P.wd, Problem::at(P.dw, P.wb, s)));
      break;
  }
}

Conv2dPass conv_pass(int pass) {
  return pass == 0 ? Conv2dPass::forward : pass == 1 ? Conv2dPass::backward_data : Conv2dPass::backward_filter;
}

void run_tilenet(Problem& P, int pass, Conv2dAlgo algo, int s) {
  const Conv2dShape& sh = P.sh;
  void *x = Problem::at(P.x, P.xb, s), *w = Problem::at(P.w, P.wb, s), *dy = Problem::at(P.dy, P.yb, s);
  void *y = Problem::at(P.y, P.yb, s), *dx = Problem::at(P.dx, P.xb, s), *dw = Problem::at(P.dw, P.wb, s);
  const std::size_t need = kernels::conv2d_workspace_bytes(sh, conv_pass(pass), P.hp, algo);
  if (P.hp) {
    auto h = [](void* p) { return static_cast<half*>(p); };
    if (pass == 0)
      kernels::conv2d_forward(sh, h(x), h(w), nullptr, h(y), kernels::Activation::none, P.ws, need, nullptr, algo);
    else if (pass == 1)
      kernels::conv2d_backward_data(sh, h(dy), h(w), h(dx), P.ws, need, nullptr, algo);
    else
      kernels::conv2d_backward_filter(sh, h(x), h(dy), h(dw), false, P.ws, need, nullptr, algo);
  } else {
    auto f = [](void* p) { return static_cast<float*>(p); };
    if (pass == 0)
      kernels::conv2d_forward(sh, f(x), f(w), nullptr, f(y), kernels::Activation::none, P.ws, need, nullptr, algo);
    else if (pass == 1)
      kernels::conv2d_backward_data(sh, f(dy), f(w), f(dx), P.ws, need, nullptr, algo);
    else
      kernels::conv2d_backward_filter(sh, f(x), f(dy), f(dw), false, P.ws, need, nullptr, algo);
  }
}

const void* output_of(const Problem& P, int pass) { return pass == 0 ? P.y : pass == 1 ? P.dx : P.dw; }
std::int64_t output_elems(const Problem& P, int pass) {
  return pass == 0 ? P.sh.y_elems() : pass == 1 ? P.sh.x_elems() : P.sh.w_elems();
}

// A tilenet case's check against cuDNN (counter max_rel_err, label), made once: Google Benchmark
// calls a case once per trial run, and the check downloads whole outputs.
struct Checked {
  double err = 0;
  bool compared = false;
  std::string label;
};

// The picks autotuning made for this layer and pass ("autotune->implicit_gemm_wgmma"; two when the
// rotating operand sets were searched apart, their alignments differing).
std::string autotune_label(const Conv2dShape& sh, Conv2dPass pass, bool hp) {
  std::string out;
  for (const kernels::Conv2dAutotuneResult& r : kernels::conv2d_autotune_results())
    if (r.shape.str() == sh.str() && r.pass == pass && r.half_inputs == hp && !r.times.empty())
      out += (out.empty() ? "autotune->" : ",") + std::string(kernels::conv2d_algo_name(r.times.front().algo));
  return out.empty() ? "autotune (no search made)" : out;
}

// Autotuning on for one case (the other tilenet cases keep the chooser's rule).
struct AutotuneScope {
  explicit AutotuneScope(bool on) : on_(on) {
    if (on_) kernels::conv2d_set_autotune(true);
  }
  ~AutotuneScope() {
    if (on_) kernels::conv2d_set_autotune(false);
  }
  AutotuneScope(const AutotuneScope&) = delete;
  AutotuneScope& operator=(const AutotuneScope&) = delete;

 private:
  bool on_;
};

// impl: -1 cuDNN, 0 tilenet Auto, 1..n: 1 + index into conv2d_algos() (n of them), n + 1: tilenet
// Auto with autotuning (the search runs at the case's first launch, before the timing). Any
// failure (setup, cuDNN, tilenet, CUDA) is this case's error; the other cases still run.
void bench_case(benchmark::State& state, int li, bool hp, int pass, int impl) {
  try {
    const int n_algos = static_cast<int>(kernels::conv2d_algos().size());
    const bool autotune = impl == n_algos + 1;
    const AutotuneScope scope(autotune);
    Problem& P = problem(li, hp);
    const bool have_cudnn = P.cudnn_failed[pass].empty();
    if (impl < 0 && !have_cudnn) throw Error("cuDNN: " + P.cudnn_failed[pass]);
    const std::int64_t out_n = output_elems(P, pass);
    if (have_cudnn && P.ref[pass].empty()) {
      CK(cudaMemset(const_cast<void*>(output_of(P, pass)), 0xFF, out_n * P.esize));
      run_cudnn(P, pass, 0);
      P.ref[pass] = to_host(output_of(P, pass), out_n, hp);
    }
    const Conv2dAlgo algo = impl <= 0 || autotune ? Conv2dAlgo::Auto : kernels::conv2d_algos()[impl - 1];
    auto run = [&](int s) {
      if (impl < 0)
        run_cudnn(P, pass, s);
      else
        run_tilenet(P, pass, algo, s);
    };
    if (impl >= 0) {  // checked once against cuDNN (set 0)
      static std::map<std::tuple<int, bool, int, int>, Checked> checked;
      const auto key = std::make_tuple(li, hp, pass, impl);
      auto it = checked.find(key);
      if (it == checked.end()) {
        Checked c;
        if (autotune) {
          for (int s = 0; s < P.sets; ++s) run(s);  // the searches (one per operand alignment met)
          c.label = autotune_label(P.sh, conv_pass(pass), hp);
        } else {
          c.label = std::string("auto->") +
                    kernels::conv2d_algo_name(impl == 0 ? kernels::conv2d_choose_algo(P.sh, conv_pass(pass), hp) : algo);
        }
        if (have_cudnn) {
          CK(cudaMemset(const_cast<void*>(output_of(P, pass)), 0xFF, out_n * P.esize));
          run(0);
          c.err = max_rel_err(to_host(output_of(P, pass), out_n, hp), P.ref[pass]);
          c.compared = true;
        } else {
          c.label += " (not checked: cuDNN failed)";
        }
        it = checked.emplace(key, c).first;
      }
      if (it->second.compared) state.counters["max_rel_err"] = it->second.err;
      state.SetLabel(it->second.label);
    } else {
      state.SetLabel(P.cudnn_label[pass]);
    }
    for (int s = 0; s < std::max(3, P.sets); ++s) run(s % P.sets);  // warm-up
    CK(cudaDeviceSynchronize());
    bench::LaunchTimer timer;
    int s = 0;
    for (auto _ : state)
      state.SetIterationTime(timer.per_launch(nullptr, bench::kLaunchesPerTiming, [&] {
        run(s);
        s = (s + 1) % P.sets;
      }));
    state.counters["TFLOPS"] =
        benchmark::Counter(P.sh.flops() * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["rotating_sets"] = P.sets;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_all() {
  const char* passes[3] = {"fwd", "bwd_data", "bwd_filter"};
  const auto algos = kernels::conv2d_algos();
  for (bool hp : {false, true})
    for (int pass = 0; pass < 3; ++pass)
      for (int impl = -1; impl <= static_cast<int>(algos.size()) + 1; ++impl)
        for (int li = 1; li <= 5; ++li) {
          // fp32 runs the 8-warp tile as the large one and the wgmma tile as ImplicitGemm's choice.
          const bool autotune = impl == static_cast<int>(algos.size()) + 1;
          if (!hp && impl > 0 && !autotune &&
              (algos[impl - 1] == Conv2dAlgo::ImplicitGemm8Warps || algos[impl - 1] == Conv2dAlgo::ImplicitGemmWgmma))
            continue;
          std::string name = std::string("conv/") + (hp ? "f16/" : "f32/") + passes[pass] + "/";
          name += impl < 0      ? "cudnn"
                  : impl == 0   ? "tilenet"
                  : autotune    ? "tilenet_autotune"
                                : std::string("tilenet_") + kernels::conv2d_algo_name(algos[impl - 1]);
          name += "/alexnet_conv" + std::to_string(li);
          benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { bench_case(s, li, hp, pass, impl); })
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond)
              ->MinTime(0.05 / bench::kLaunchesPerTiming);  // 0.05 s of GPU time (see kLaunchesPerTiming)
        }
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("bench_conv: no CUDA device, nothing to measure\n");
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  // On Hopper: settle the wgmma gate (its self-check) now, so that every Auto case, the first
  // included, runs and is labelled with the algorithm Auto keeps.
  tilenet::kernels::gemm_settle_auto(nullptr);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
