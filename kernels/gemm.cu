// GEMM dispatcher (kernels/gemm.h): argument checks, the alignment flags each kernel reads, the
// Auto chooser (by dtype, shape, alignment and device), forced configurations for benchmarks and
// the column-sum kernel (bias gradients). The kernels live one algorithm per file:
// gemm_naive.cu, gemm_smem_tiled.cu, gemm_register_blocked.cu, gemm_warp_tiled.cu (fp32),
// gemm_wmma.cu, gemm_mma_sync.cu (fp16, sm_70/sm_80+), gemm_wgmma_sm90a.cu (fp16, Hopper).
#include <cuda_fp16.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "kernels/gemm_args.h"
#include "kernels/gemm_device.cuh"
#include "kernels/gemm_internal.h"
#include "kernels/gemm_wgmma_gate.h"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {

// Compute capability of the current device as 10 * major + minor (cached per device).
int device_cc() {
  return device_attribute(cudaDevAttrComputeCapabilityMajor) * 10 + device_attribute(cudaDevAttrComputeCapabilityMinor);
}

template <typename TI, typename TO>
GemmArgs make_args(const GemmParams& p, const TI* a, const TI* b, TO* c) {
  GemmArgs g;
  g.a = a;
  g.b = b;
  g.c = c;
  g.m = static_cast<int>(p.m);
  g.n = static_cast<int>(p.n);
  g.k = static_cast<int>(p.k);
  g.lda = p.lda, g.ldb = p.ldb, g.ldc = p.ldc;
  g.sa = p.stride_a, g.sb = p.stride_b, g.sc = p.stride_c;
  g.alpha = p.alpha, g.beta = p.beta;
  g.bias = p.bias;
  g.ta = p.trans_a, g.tb = p.trans_b;
  g.relu = p.act == Activation::relu;
  g.c_half = sizeof(TO) == 2;
  constexpr long long kIn = 16 / sizeof(TI);  // elements per 16-byte load
  const bool batched = p.batch > 1;
  g.a_vec = is_aligned(a, 16) && p.lda % kIn == 0 && (!batched || p.stride_a % kIn == 0);
  g.b_vec = is_aligned(b, 16) && p.ldb % kIn == 0 && (!batched || p.stride_b % kIn == 0);
  g.c_vec = 1;
  for (int v : {8, 4, 2}) {
    const std::size_t cb = v * sizeof(TO) > 16 ? 16 : v * sizeof(TO);
    const bool ok = is_aligned(c, cb) && p.ldc % v == 0 && (!batched || p.stride_c % v == 0) &&
                    (p.bias == nullptr || is_aligned(p.bias, v * 4 > 16 ? 16 : v * 4));
    if (ok && v * sizeof(TO) <= 16) {
      g.c_vec = v;
      break;
    }
  }
  return g;
}

int tiles(const GemmArgs& g, int bm, int bn) { return ceil_div(g.m, bm) * ceil_div(g.n, bn); }

int choose_warp_tiled(const GemmArgs& g) {
  // The 128x128 tile when it fills the device, else 64x64 for more blocks.
  return tiles(g, 128, 128) >= sm_count() ? 0 : 3;
}
int choose_mma_sync(const GemmArgs& g) { return tiles(g, 128, 128) >= sm_count() ? 0 : 1; }
int choose_wmma(const GemmArgs& g) { return tiles(g, 128, 128) >= sm_count() ? 0 : 1; }
int choose_wgmma(const GemmArgs& g) { return tiles(g, 128, 256) >= sm_count() ? 0 : 1; }
// A Hopper device with this build's sm_90a kernels. The cached compute capability first: other
// devices never probe for the sm_90a kernels.
bool hopper_kernels() { return device_cc() == 90 && sm90a_kernels_available(); }

bool wgmma_usable(const GemmArgs& g, int batch) { return hopper_kernels() && wgmma_supports(g, batch); }

// Whether `gate` allows wgmma on the current device, running `check` once per device to decide:
// never inside a stream capture (the check allocates, copies and synchronises); until a call
// outside a capture has decided, the portable path is used and nothing is remembered.
// TILENET_DISABLE_WGMMA (kernels/gemm_wgmma_gate.h) turns wgmma off for Auto.
bool gate_allows(WgmmaAutoGate& gate, const WgmmaAutoGate::Check& check, cudaStream_t stream) {
  if (wgmma_disabled_by_environment()) return false;
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  if (const auto v = gate.verdict(dev)) return *v;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &capture) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  if (capture != cudaStreamCaptureStatusNone) return false;
  return gate.allowed(dev, check, std::cerr);
}

// GEMM: the self-check on small integers, every transpose and both tile configurations, f32 and
// f16 output, two strided batches. Shape: two M tiles (both consumer warpgroups, a ragged second
// tile), N past 192 so the 256-wide tile reads all four 64-wide B atoms, K = 13 x 64 - 24 (ragged)
// so the stage ring of either configuration (4 or 6 stages) wraps at least twice and every
// barrier parity is waited on both ways. About 22 M multiply-adds of CPU reference and 16 small
// launches.
bool wgmma_allowed_for_auto(cudaStream_t stream) {
  return gate_allows(wgmma_auto_gate(), [] { return wgmma_self_check(136, 200, 808, 2); }, stream);
}

GemmAlgo resolve_auto(const GemmArgs& g, int batch, bool half_in, cudaStream_t stream) {
  if (!half_in) return GemmAlgo::WarpTiled;
  if (wgmma_usable(g, batch) && tiles(g, 128, 128) >= sm_count() / 2 && wgmma_allowed_for_auto(stream))
    return GemmAlgo::Wgmma;
  return device_cc() >= 80 ? GemmAlgo::MmaSync : GemmAlgo::Wmma;
}

// The algorithm's configuration table (count; *t set), 1 entry for the unconfigurable ones.
int config_table(GemmAlgo algo, const GemmTileInfo** t) {
  *t = nullptr;
  switch (algo) {
    case GemmAlgo::WarpTiled: return warp_tiled_configs(t);
    case GemmAlgo::Wmma: return wmma_configs(t);
    case GemmAlgo::MmaSync: return mma_sync_configs(t);
    case GemmAlgo::Wgmma: return wgmma_configs(t);
    default: return 1;
  }
}
int config_count(GemmAlgo algo) {
  const GemmTileInfo* t = nullptr;
  return config_table(algo, &t);
}

void run(const GemmParams& p, GemmArgs g, bool half_in, cudaStream_t stream, GemmAlgo algo, int cfg) {
  const char* op = "gemm";
  const bool fp32_only = algo == GemmAlgo::RegisterBlocked || algo == GemmAlgo::WarpTiled;
  const bool fp16_only = algo == GemmAlgo::Wmma || algo == GemmAlgo::MmaSync || algo == GemmAlgo::Wgmma;
  TILENET_CHECK(!(half_in && fp32_only), ValueError, op, ": algorithm ", gemm_algo_name(algo),
                " takes fp32 inputs; got fp16");
  TILENET_CHECK(!(!half_in && fp16_only), ValueError, op, ": algorithm ", gemm_algo_name(algo),
                " takes fp16 inputs; got fp32");
  if (algo == GemmAlgo::MmaSync)
    TILENET_CHECK(device_cc() >= 80, DeviceError, op, ": mma_sync needs compute capability 8.0 or newer; this device is ",
                  device_cc() / 10, ".", device_cc() % 10);
  // A configuration index belongs to the algorithm asked for; Auto's to the one it resolves to.
  const GemmAlgo asked = algo;
  const auto check_cfg = [&](GemmAlgo a) {
    TILENET_CHECK(cfg >= -1 && cfg < config_count(a), ValueError, op, ": algorithm ", gemm_algo_name(asked),
                  " has no configuration ", cfg);
  };
  if (algo != GemmAlgo::Auto) check_cfg(algo);
  if (algo == GemmAlgo::Wgmma) {
    TILENET_CHECK(sm90a_kernels_available() && device_cc() == 90, DeviceError, op,
                  ": wgmma needs a compute capability 9.0 device and a build with sm_90a (CUDA architectures "
                  "including 90)");
    if (!wgmma_supports(g, p.batch)) {  // alignment the tensor maps cannot take: the portable Tensor Core path
      algo = GemmAlgo::MmaSync;
      cfg = -1;
    }
  }
  // Auto is resolved once (it may run the wgmma self-check); k == 0 never needs it.
  if (algo == GemmAlgo::Auto && g.k > 0) {
    algo = resolve_auto(g, p.batch, half_in, stream);
    check_cfg(algo);
  }
  if (g.k == 0) {  // epilogue only: C = beta * C + bias, any width
    algo = GemmAlgo::Naive;
    cfg = -1;
  }
  TILENET_CHECK(ceil_div(g.n, 16) <= 65535 || (algo != GemmAlgo::SmemTiled && algo != GemmAlgo::RegisterBlocked),
                ValueError, op, ": n=", g.n, " is too wide for the ", gemm_algo_name(algo), " kernel");
  const int batch = p.batch;
  switch (algo) {
    case GemmAlgo::Naive: launch_gemm_naive(g, batch, half_in, stream); break;
    case GemmAlgo::SmemTiled: launch_gemm_smem_tiled(g, batch, half_in, stream); break;
    case GemmAlgo::RegisterBlocked: launch_gemm_register_blocked(g, batch, stream); break;
    case GemmAlgo::WarpTiled: launch_gemm_warp_tiled(g, batch, cfg < 0 ? choose_warp_tiled(g) : cfg, stream); break;
    case GemmAlgo::Wmma: launch_gemm_wmma(g, batch, cfg < 0 ? choose_wmma(g) : cfg, stream); break;
    case GemmAlgo::MmaSync: launch_gemm_mma_sync(g, batch, cfg < 0 ? choose_mma_sync(g) : cfg, stream); break;
    case GemmAlgo::Wgmma: launch_gemm_wgmma(g, batch, cfg < 0 ? choose_wgmma(g) : cfg, stream); break;
    case GemmAlgo::Auto: break;
  }
}

template <typename TI, typename TO>
void gemm_t(const GemmParams& in, const TI* a, const TI* b, TO* c, cudaStream_t stream, GemmAlgo algo, int cfg) {
  const GemmParams p = resolve_gemm_params(in, a, b, c, "gemm");
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  run(p, make_args(p, a, b, c), sizeof(TI) == 2, stream, algo, cfg);
}

// db[j] (+)= sum_i dy[i][j], deterministically. 32 columns x 8 row lanes per block, coalesced along
// the row. Large problems split the rows over grid.y: each split writes its partial sums to the
// workspace ([splits, cols], no atomics) and a second kernel adds them in split order, so the bits
// depend only on the shape and the device, never on scheduling.
template <typename T>
__global__ void __launch_bounds__(256) column_sums_kernel(const T* dy, long long rows, int cols, float* out,
                                                          bool accumulate) {
  __shared__ float part[8][33];
  const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
  const long long col = static_cast<long long>(blockIdx.x) * 32 + tx;  // cols may approach 2^31
  const long long per = (rows + gridDim.y - 1) / gridDim.y;
  const long long r0 = blockIdx.y * per, r1 = min(rows, r0 + per);
  float s = 0.0f;
  if (col < cols)
    for (long long r = r0 + ty; r < r1; r += 8) s += gemm_detail::load_in(dy, r * cols + col);
  part[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && col < cols) {
    float t = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) t += part[i][tx];
    // One split: out is db. Several: out is the workspace row of this split.
    float* o = out + static_cast<long long>(blockIdx.y) * cols + col;
    *o = accumulate ? *o + t : t;
  }
}

// db[j] (+)= sum over s of partial[s][j], in order of s.
__global__ void __launch_bounds__(256) column_sums_finish_kernel(const float* partial, int splits, int cols,
                                                                 float* db, bool accumulate) {
  const long long col = static_cast<long long>(blockIdx.x) * 256 + threadIdx.x;
  if (col >= cols) return;
  float t = 0.0f;
  for (int s = 0; s < splits; ++s) t += partial[static_cast<long long>(s) * cols + col];
  db[col] = accumulate ? db[col] + t : t;
}

// How many row splits keep the device busy: 1 for small problems (one pass, no workspace).
long long column_sum_splits(std::int64_t rows, std::int64_t cols) {
  const long long col_blocks = ceil_div<long long>(cols, 32);
  if (rows < 1024 || col_blocks >= 2 * sm_count()) return 1;
  return std::min<long long>({ceil_div<long long>(rows, 256), 2 * sm_count() / col_blocks + 1, 65535});
}

void check_column_sums(std::int64_t rows, std::int64_t cols) {
  TILENET_CHECK(rows >= 0 && cols >= 0 && cols <= (1LL << 31) - 1, ValueError,
                "column_sums: bad size (rows=", rows, " cols=", cols, "), expected rows >= 0 and 0 <= cols < 2^31");
}

template <typename T>
void column_sums_t(const T* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate, cudaStream_t stream,
                   void* workspace, std::size_t workspace_bytes) {
  check_column_sums(rows, cols);
  if (cols == 0) return;
  TILENET_CHECK(db != nullptr && (rows == 0 || dy != nullptr), ValueError, "column_sums: null pointer (rows=", rows,
                " cols=", cols, ")");
  TILENET_CHECK(workspace == nullptr || is_aligned(workspace, 16), ValueError,
                "column_sums: workspace must be 16-byte aligned");
  const long long col_blocks = ceil_div<long long>(cols, 32);
  // The splits the workspace holds; with too little (or none) the sums take one slower pass.
  const long long fit = workspace ? static_cast<long long>(workspace_bytes / (sizeof(float) * cols)) : 0;
  const long long splits = std::max<long long>(1, std::min(column_sum_splits(rows, cols), fit));
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(splits));
  if (splits == 1) {
    column_sums_kernel<T><<<grid, 256, 0, stream>>>(dy, rows, static_cast<int>(cols), db, accumulate);
    check_launch("column_sums", stream);
    return;
  }
  float* partial = static_cast<float*>(workspace);
  column_sums_kernel<T><<<grid, 256, 0, stream>>>(dy, rows, static_cast<int>(cols), partial, false);
  check_launch("column_sums", stream);
  column_sums_finish_kernel<<<static_cast<unsigned>(ceil_div<long long>(cols, 256)), 256, 0, stream>>>(
      partial, static_cast<int>(splits), static_cast<int>(cols), db, accumulate);
  check_launch("column_sums (finish)", stream);
}

}  // namespace

GemmArgs gemm_args_at_batch(const GemmArgs& g, long long b0, bool half_in) {
  GemmArgs r = g;
  const long long in = half_in ? 2 : 4, out = g.c_half ? 2 : 4;
  r.a = static_cast<const char*>(g.a) + b0 * g.sa * in;
  r.b = static_cast<const char*>(g.b) + b0 * g.sb * in;
  r.c = static_cast<char*>(g.c) + b0 * g.sc * out;
  return r;
}

void gemm(const GemmParams& p, const float* a, const float* b, float* c, cudaStream_t s, GemmAlgo algo) {
  gemm_t(p, a, b, c, s, algo, -1);
}
void gemm(const GemmParams& p, const half* a, const half* b, float* c, cudaStream_t s, GemmAlgo algo) {
  gemm_t(p, reinterpret_cast<const __half*>(a), reinterpret_cast<const __half*>(b), c, s, algo, -1);
}
void gemm(const GemmParams& p, const half* a, const half* b, half* c, cudaStream_t s, GemmAlgo algo) {
  gemm_t(p, reinterpret_cast<const __half*>(a), reinterpret_cast<const __half*>(b), reinterpret_cast<__half*>(c), s,
         algo, -1);
}
void gemm_with_config(const GemmParams& p, const float* a, const float* b, float* c, cudaStream_t s, GemmAlgo algo,
                      int cfg) {
  gemm_t(p, a, b, c, s, algo, cfg);
}
void gemm_with_config(const GemmParams& p, const half* a, const half* b, float* c, cudaStream_t s, GemmAlgo algo,
                      int cfg) {
  gemm_t(p, reinterpret_cast<const __half*>(a), reinterpret_cast<const __half*>(b), c, s, algo, cfg);
}
void gemm_with_config(const GemmParams& p, const half* a, const half* b, half* c, cudaStream_t s, GemmAlgo algo,
                      int cfg) {
  gemm_t(p, reinterpret_cast<const __half*>(a), reinterpret_cast<const __half*>(b), reinterpret_cast<__half*>(c), s,
         algo, cfg);
}

void conv_settle_auto(cudaStream_t stream) {
  // One exact convolution per pass (about 47 M multiply-adds of CPU reference, 3 launches).
  if (hopper_kernels()) (void)gate_allows(wgmma_conv_auto_gate(), [] { return wgmma_conv_self_check(); }, stream);
}

void gemm_settle_auto(cudaStream_t stream) {
  if (!hopper_kernels()) return;
  (void)wgmma_allowed_for_auto(stream);
  conv_settle_auto(stream);
}

bool conv_wgmma_passed_for_auto() {
  if (!hopper_kernels() || wgmma_disabled_by_environment()) return false;
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  return wgmma_conv_auto_gate().verdict(dev).value_or(false);
}

GemmAlgo gemm_auto_choice(const GemmParams& in, bool half_in) {
  GemmParams p = in;
  // Alignment-dependent choices assume 256-byte aligned buffers (what cudaMalloc returns).
  p = resolve_gemm_params(p, reinterpret_cast<const void*>(256), reinterpret_cast<const void*>(256),
                          reinterpret_cast<const void*>(256), "gemm_auto_choice");
  const GemmArgs g = half_in ? make_args(p, reinterpret_cast<const __half*>(256), reinterpret_cast<const __half*>(256),
                                         reinterpret_cast<float*>(256))
                             : make_args(p, reinterpret_cast<const float*>(256), reinterpret_cast<const float*>(256),
                                         reinterpret_cast<float*>(256));
  if (p.k == 0) return GemmAlgo::Naive;
  return resolve_auto(g, p.batch, half_in, nullptr);
}

std::vector<GemmConfigInfo> gemm_configs() {
  std::vector<GemmConfigInfo> v;
  for (bool half_in : {false, true})
    for (GemmAlgo algo : gemm_algos(half_in)) {
      const GemmTileInfo* t = nullptr;
      const int n = config_table(algo, &t);
      for (int i = 0; t != nullptr && i < n; ++i)
        v.push_back({algo, i, std::string(gemm_algo_name(algo)) + "_" + t[i].name, half_in});
    }
  return v;
}

std::size_t column_sums_workspace_bytes(std::int64_t rows, std::int64_t cols) {
  check_column_sums(rows, cols);
  if (cols == 0) return 0;
  const long long splits = column_sum_splits(rows, cols);
  return splits > 1 ? static_cast<std::size_t>(splits) * static_cast<std::size_t>(cols) * sizeof(float) : 0;
}
void column_sums(const float* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate,
                 cudaStream_t stream, void* workspace, std::size_t workspace_bytes) {
  column_sums_t(dy, rows, cols, db, accumulate, stream, workspace, workspace_bytes);
}
void column_sums(const half* dy, std::int64_t rows, std::int64_t cols, float* db, bool accumulate,
                 cudaStream_t stream, void* workspace, std::size_t workspace_bytes) {
  column_sums_t(reinterpret_cast<const __half*>(dy), rows, cols, db, accumulate, stream, workspace, workspace_bytes);
}

#ifndef TILENET_HAS_SM90A
void launch_gemm_wgmma(const GemmArgs&, int, int, cudaStream_t) {
  throw DeviceError("gemm (wgmma): this build has no sm_90a kernels");
}
bool wgmma_supports(const GemmArgs&, int) { return false; }
int wgmma_configs(const GemmTileInfo** out) {
  *out = nullptr;
  return 0;
}
#endif

}  // namespace tilenet::kernels
