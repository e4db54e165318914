// bench_gemm: tilenet GEMM against cuBLAS on the same buffers (row-major through the operand
// swap), CUDA-event timing with UseManualTime, random operands (never zeros), operand sets rotated
// when they would fit in L2. Names: gemm/<f32|f16>/<impl>/<M>x<N>x<K>[_<ta><tb>], impl one of
//   tilenet            Auto (label: the algorithm it chose)
//   cublas             cublasSgemm (default math: no TF32) / cublasGemmEx fp16 in/out, fp32 compute
//                      (reduced-precision split-K reduction disallowed)
//   tilenet_<algo>     one algorithm with its chooser's tile configuration
//   tilenet_<algo>_<cfg>  one forced tile configuration (which config to make the default)
// Counters: TFLOP/s, and max_rel_err = max|C - C_cublas| / max|C_cublas| checked once per case
// before timing (a case over its tolerance is reported as an error, never timed).
// Without a CUDA device the binary prints a message and exits 0.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_device.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "kernels/rng.h"
#include "tensor/error.h"

using namespace tilenet;
using kernels::GemmAlgo;

namespace {

#define BLAS_CHECK(x)                                                                             \
  do {                                                                                            \
    const cublasStatus_t st_ = (x);                                                               \
    if (st_ != CUBLAS_STATUS_SUCCESS) throw Error(std::string(#x) + " failed: " + std::to_string(st_)); \
  } while (0)

cudaStream_t g_stream = nullptr;
cublasHandle_t g_blas = nullptr;

struct Problem {
  int m, n, k;
  bool ta, tb;
  std::string name() const {
    std::string s = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
    if (ta || tb) s += std::string("_") + (ta ? "t" : "n") + (tb ? "t" : "n");
    return s;
  }
  double flops() const { return 2.0 * m * n * k; }
};

struct Impl {
  enum Kind { tilenet, cublas } kind;
  GemmAlgo algo = GemmAlgo::Auto;
  int cfg = -1;
  std::string name;
};

struct DevMem {
  void* p = nullptr;
  explicit DevMem(std::size_t bytes) { TILENET_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(bytes, 256))); }
  ~DevMem() { cudaFree(p); }
  DevMem(const DevMem&) = delete;
  DevMem& operator=(const DevMem&) = delete;
};

// Operand sets of the problem being timed; kept while consecutive cases share (dtype, problem),
// so tilenet and cuBLAS run on the same buffers.
struct Operands {
  bool half = false;
  std::string key;
  std::vector<std::unique_ptr<DevMem>> a, b, c;
};
Operands g_ops;

void fill_uniform(void* p, std::int64_t n, bool is_half, std::uint64_t seed) {
  if (!is_half) {
    kernels::rng_uniform(static_cast<float*>(p), n, -1.0f, 1.0f, seed, 0, g_stream);
    return;
  }
  const std::int64_t chunk = std::int64_t{1} << 24;
  DevMem tmp(chunk * 4);
  for (std::int64_t i = 0; i < n; i += chunk) {
    const std::int64_t len = std::min(chunk, n - i);
    kernels::rng_uniform(static_cast<float*>(tmp.p), len, -1.0f, 1.0f, seed, static_cast<std::uint64_t>(i), g_stream);
    kernels::cast(static_cast<const float*>(tmp.p), static_cast<tilenet::half*>(p) + i, len, g_stream);
  }
  TILENET_CUDA_CHECK(cudaStreamSynchronize(g_stream));
}

// Operand sets rotated through per timed iteration (bench::rotating_sets, at most 64).
std::size_t rotation_sets(bool half, const Problem& pr) {
  const std::size_t es = half ? 2 : 4;
  return bench::rotating_sets(es * (static_cast<std::size_t>(pr.m) * pr.k + static_cast<std::size_t>(pr.k) * pr.n +
                                    static_cast<std::size_t>(pr.m) * pr.n),
                              64);
}

Operands& operands(bool half, const Problem& pr) {
  const std::string key = std::string(half ? "f16/" : "f32/") + pr.name();
  if (g_ops.key == key) return g_ops;
  g_ops.a.clear(), g_ops.b.clear(), g_ops.c.clear();
  const std::size_t es = half ? 2 : 4;
  const std::size_t ab = es * pr.m * pr.k, bb = es * pr.k * pr.n, cb = es * pr.m * pr.n;
  const std::size_t sets = rotation_sets(half, pr);
  for (std::size_t s = 0; s < sets; ++s) {
    g_ops.a.push_back(std::make_unique<DevMem>(ab));
    g_ops.b.push_back(std::make_unique<DevMem>(bb));
    g_ops.c.push_back(std::make_unique<DevMem>(cb));
    fill_uniform(g_ops.a.back()->p, static_cast<std::int64_t>(pr.m) * pr.k, half, 100 + 3 * s);
    fill_uniform(g_ops.b.back()->p, static_cast<std::int64_t>(pr.k) * pr.n, half, 101 + 3 * s);
    fill_uniform(g_ops.c.back()->p, static_cast<std::int64_t>(pr.m) * pr.n, half, 102 + 3 * s);
  }
  g_ops.half = half;
  g_ops.key = key;
  return g_ops;
}

void launch(const Impl& impl, bool half, const Problem& pr, const Operands& ops, std::size_t set) {
  const void* a = ops.a[set]->p;
  const void* b = ops.b[set]->p;
  void* c = ops.c[set]->p;
  if (impl.kind == Impl::cublas) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    const float one = 1.0f, zero = 0.0f;
    const cublasOperation_t opb = pr.tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = pr.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int lda = pr.ta ? pr.m : pr.k, ldb = pr.tb ? pr.k : pr.n;
    if (!half)
      BLAS_CHECK(cublasSgemm(g_blas, opb, opa, pr.n, pr.m, pr.k, &one, static_cast<const float*>(b), ldb,
                             static_cast<const float*>(a), lda, &zero, static_cast<float*>(c), pr.n));
    else
      BLAS_CHECK(cublasGemmEx(g_blas, opb, opa, pr.n, pr.m, pr.k, &one, b, CUDA_R_16F, ldb, a, CUDA_R_16F, lda, &zero, c,
                              CUDA_R_16F, pr.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  kernels::GemmParams p;
  p.m = pr.m, p.n = pr.n, p.k = pr.k, p.trans_a = pr.ta, p.trans_b = pr.tb;
  if (!half)
    kernels::gemm_with_config(p, static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(c),
                              g_stream, impl.algo, impl.cfg);
  else
    kernels::gemm_with_config(p, static_cast<const tilenet::half*>(a), static_cast<const tilenet::half*>(b),
                              static_cast<tilenet::half*>(c), g_stream, impl.algo, impl.cfg);
}

std::vector<float> download_c(bool half, const Problem& pr, const Operands& ops) {
  const std::size_t n = static_cast<std::size_t>(pr.m) * pr.n;
  std::vector<float> out(n);
  TILENET_CUDA_CHECK(cudaStreamSynchronize(g_stream));
  if (!half) {
    TILENET_CUDA_CHECK(cudaMemcpy(out.data(), ops.c[0]->p, n * 4, cudaMemcpyDeviceToHost));
  } else {
    std::vector<tilenet::half> h(n);
    TILENET_CUDA_CHECK(cudaMemcpy(h.data(), ops.c[0]->p, n * 2, cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(h[i]);
  }
  return out;
}

// max |C - C_cublas| / max |C_cublas| on set 0 (infinite when anything is NaN).
double error_vs_cublas(const Impl& impl, bool half, const Problem& pr, const Operands& ops) {
  launch(Impl{Impl::cublas, GemmAlgo::Auto, -1, "cublas"}, half, pr, ops, 0);
  const std::vector<float> ref = download_c(half, pr, ops);
  TILENET_CUDA_CHECK(cudaMemsetAsync(ops.c[0]->p, 0xff, ref.size() * (half ? 2 : 4), g_stream));  // NaN
  launch(impl, half, pr, ops, 0);
  const std::vector<float> got = download_c(half, pr, ops);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (std::isnan(d)) return INFINITY;
    num = std::max(num, d);
    den = std::max(den, std::fabs(static_cast<double>(ref[i])));
  }
  return den > 0 ? num / den : num;
}

void run_case(benchmark::State& st, bool half, Problem pr, Impl impl) {
  try {
    std::string label;
    const Operands& ops = operands(half, pr);
    if (impl.kind == Impl::tilenet) {
      // Checked once per case: Google Benchmark calls a case once per trial run, and the check
      // downloads two whole C matrices.
      static std::map<std::string, double> checked;
      const std::string key = std::string(half ? "f16/" : "f32/") + impl.name + "/" + pr.name();
      auto it = checked.find(key);
      if (it == checked.end()) it = checked.emplace(key, error_vs_cublas(impl, half, pr, ops)).first;
      const double err = it->second;
      st.counters["max_rel_err"] = err;
      const double tol = half ? 5e-3 : 1e-4;
      if (!(err <= tol)) {
        st.SkipWithError(("result differs from cuBLAS: max_rel_err " + std::to_string(err)).c_str());
        return;
      }
      if (impl.algo == GemmAlgo::Auto) {
        kernels::GemmParams p;
        p.m = pr.m, p.n = pr.n, p.k = pr.k, p.trans_a = pr.ta, p.trans_b = pr.tb;
        label = std::string("auto=") + kernels::gemm_algo_name(kernels::gemm_auto_choice(p, half));
      } else if (impl.algo == GemmAlgo::Wgmma && ((pr.ta ? pr.m : pr.k) % 8 != 0 || (pr.tb ? pr.k : pr.n) % 8 != 0)) {
        label = "ran mma_sync: leading dimensions the tensor maps cannot take";  // gemm()'s fallback
      }
    }
    const std::size_t sets = ops.a.size();
    for (std::size_t s = 0; s < sets; ++s) launch(impl, half, pr, ops, s);  // warm-up
    TILENET_CUDA_CHECK(cudaStreamSynchronize(g_stream));
    bench::LaunchTimer timer;
    double total = 0;
    for (auto _ : st) {
      std::size_t s = 0;  // every rotating set once per iteration
      const double per_gemm =
          timer.per_launch(g_stream, static_cast<int>(sets), [&] { launch(impl, half, pr, ops, s++); });
      st.SetIterationTime(per_gemm);
      total += per_gemm;
    }
    st.counters["TFLOP/s"] = pr.flops() * static_cast<double>(st.iterations()) / total / 1e12;
    // A few microseconds a GEMM is about what issuing one costs the host: the queue may have
    // drained between launches, and the figure is then the launch rate, not the kernel's.
    if (total / static_cast<double>(st.iterations()) < 10e-6) label += label.empty() ? "launch-bound?" : " launch-bound?";
    if (!label.empty()) st.SetLabel(label);
    st.counters["rotating_sets"] = static_cast<double>(sets);
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
  }
}

// An iteration runs every rotating set but reports the time of one GEMM, and Google Benchmark
// compares MinTime with the reported time: dividing by the set count keeps every case near 1.5x
// its base in wall time (64 sets at 0.05 s would take about 5 s per small case).
void add(bool half, const Problem& pr, const Impl& impl) {
  const std::string name = std::string("gemm/") + (half ? "f16/" : "f32/") + impl.name + "/" + pr.name();
  const double base_s = pr.flops() > 1e11 ? 0.2 : 0.05;
  benchmark::RegisterBenchmark(name.c_str(), run_case, half, pr, impl)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond)
      ->MinTime(base_s / static_cast<double>(rotation_sets(half, pr)));
}

void register_all() {
  std::vector<Problem> squares;
  for (int s : {1024, 2048, 4096, 8192}) squares.push_back({s, s, s, false, false});
  // Training shapes at batch 128: forward Y = X W ([128, in] x [in, out]), dX = dY W^T, dW = X^T dY.
  std::vector<Problem> training;
  for (const auto& [in, out] : std::vector<std::pair<int, int>>{{784, 512}, {512, 512}, {512, 10},  // MNIST MLP
                                                               {9216, 4096}, {4096, 4096}, {4096, 1000}}) {  // AlexNet FC
    training.push_back({128, out, in, false, false});
    training.push_back({128, in, out, false, true});
    training.push_back({in, out, 128, true, false});
  }
  for (bool half : {false, true}) {
    const std::vector<GemmAlgo> algos = kernels::gemm_algos(half);
    std::vector<kernels::GemmConfigInfo> cfgs;
    for (const auto& c : kernels::gemm_configs())
      if (c.half_inputs == half) cfgs.push_back(c);
    for (const Problem& pr : squares) {
      const double mnk = static_cast<double>(pr.m) * pr.n * pr.k;
      add(half, pr, {Impl::tilenet, GemmAlgo::Auto, -1, "tilenet"});
      add(half, pr, {Impl::cublas, GemmAlgo::Auto, -1, "cublas"});
      for (GemmAlgo a : algos) {
        // The teaching kernels are slow: naive up to 2048, the other simple ones up to 4096.
        if (a == GemmAlgo::Naive && mnk > 2048.0 * 2048 * 2048) continue;
        if ((a == GemmAlgo::SmemTiled || a == GemmAlgo::RegisterBlocked) && mnk > 4096.0 * 4096 * 4096) continue;
        add(half, pr, {Impl::tilenet, a, -1, std::string("tilenet_") + kernels::gemm_algo_name(a)});
      }
      for (const auto& c : cfgs) add(half, pr, {Impl::tilenet, c.algo, c.cfg, "tilenet_" + c.name});
    }
    for (const Problem& pr : training) {
      add(half, pr, {Impl::tilenet, GemmAlgo::Auto, -1, "tilenet"});
      add(half, pr, {Impl::cublas, GemmAlgo::Auto, -1, "cublas"});
      for (const auto& c : cfgs) add(half, pr, {Impl::tilenet, c.algo, c.cfg, "tilenet_" + c.name});
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("bench_gemm: no CUDA device; nothing to measure\n");
    return 0;
  }
  TILENET_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  BLAS_CHECK(cublasCreate(&g_blas));
  BLAS_CHECK(cublasSetStream(g_blas, g_stream));
  // fp32 stays fp32 (no TF32); fp16 accumulates and reduces split-K partials in fp32, as tilenet does.
  BLAS_CHECK(cublasSetMathMode(g_blas, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                                 CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
  cudaDeviceProp prop{};
  TILENET_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  int blas_version = 0;
  BLAS_CHECK(cublasGetVersion(g_blas, &blas_version));
  benchmark::AddCustomContext("gpu", prop.name);
  benchmark::AddCustomContext("cublas_version", std::to_string(blas_version));
  benchmark::AddCustomContext("sm90a_kernels", kernels::sm90a_kernels_available() ? "yes" : "no");
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_ops = Operands{};
  cublasDestroy(g_blas);
  cudaStreamDestroy(g_stream);
  return 0;
}
