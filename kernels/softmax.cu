// Softmax family over the last dimension. One kernel template serves six modes (softmax and
// log-softmax forward/backward, cross-entropy with integer labels or probability targets):
//   phase 1: each thread folds its share of the row into a statistic: (max, sum e^(x-max)) for
//            the forward modes, merged online across threads (Milakov & Gimelshein), or sum(dy*y)
//            / sum(dy) for the backward ones; soft targets add sum(t) and sum(t*(x-max)), shifted
//            with the max so logits of 1e4 lose nothing;
//   phase 2: each thread writes its outputs from the row statistic.
// Three shapes of the same code:
//   - a warp per row (cols <= 1024): the row sits in registers, PACKS vectors of V per lane;
//   - a block per row: registers again (up to 32768 columns; 16384 per input of floats for the
//     backward modes, whose second input then waits in shared memory up to 32768; 8192 / 4096
//     columns when cols % 8 != 0);
//   - a block per row, uncached (longer rows): phase 2 re-reads the row (from L2 mostly).
// So a cached row is read from DRAM once and written once. Vectors are V = 8 elements (16-byte
// words) when cols % 8 == 0 and the pointers are aligned, else V = 1 (still coalesced).
// Measured (H100, 2026-11-23, bench_cnn_ops): 65536x1000 (warp path) forward 0.93 of the device
// copy bandwidth in f32 and f16 (cuDNN 0.52 / 0.34), backward 1.0 / 0.97, fused cross-entropy
// 0.83 / 0.91; 8192x32768 f32 forward 0.88 (cuDNN 0.91). Not measured yet: the 512-thread f16
// block path (1024 threads measured 0.78) and the shared-memory backward (the uncached path it
// replaces measured 0.61).
// Resources (-Xptxas -v, sm_90, CUDA 13.0, 2026-11-23): 18-123 registers across the instances, no
// spills except one: the f16 cross-entropy warp path with scalar loads (V = 1, 16 per lane, odd
// column counts of 257..512) spills 4 bytes (8-byte stack frame) at 48 registers, a ptxas choice
// rather than register pressure; its cost is not measured.
#include <cuda_fp16.h>

#include <cmath>

#include "kernels/launch.h"
#include "kernels/softmax.h"
#include "kernels/softmax_rows.cuh"
#include "kernels/vector_access.cuh"

namespace tilenet::kernels {
namespace {

using namespace softmax_detail;

// Rows cached in registers: a group of G threads (a warp, or the block) per row; each thread
// holds PACKS vectors of V at columns (k * G + thread) * V. kSmemB (two-input modes, rows too
// long for registers): the second input waits in dynamic shared memory instead, each thread
// reading back only the slots it wrote (no barrier needed).
template <Mode M, typename T, int V, int PACKS, bool kWarp, int kThreads, bool kSmemB = false>
__global__ void __launch_bounds__(kThreads) rows_cached_kernel(RowArgs<T> p) {
  constexpr bool kTwo = is_bwd(M);
  static_assert(!kSmemB || (kTwo && !kWarp), "shared-memory caching is for the second input of a block per row");
  __shared__ Stat scratch[33];
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* smem_b = reinterpret_cast<T*>(smem_raw);
  const int G = kWarp ? 32 : blockDim.x;
  const int tid = kWarp ? (threadIdx.x & 31) : threadIdx.x;
  const std::int64_t first = kWarp ? static_cast<std::int64_t>(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32
                                   : static_cast<std::int64_t>(blockIdx.x);
  const std::int64_t step = kWarp ? static_cast<std::int64_t>(gridDim.x) * (kThreads / 32) : gridDim.x;
  for (std::int64_t row = first; row < p.rows; row += step) {
    const T* arow = p.a + row * p.cols;
    const T* brow = kTwo ? p.b + row * p.cols : nullptr;
    Vec<T, V> ca[PACKS], cb[kTwo && !kSmemB ? PACKS : 1];
#pragma unroll
    for (int k = 0; k < PACKS; ++k) {
      const std::int64_t col = (static_cast<std::int64_t>(k) * G + tid) * V;
      if (col < p.cols) {
        ca[k] = load_vec<T, V>(arow + col);
        if constexpr (kSmemB)
          store_vec<T, V>(smem_b + col, load_vec<T, V>(brow + col));
        else if constexpr (kTwo)
          cb[k] = load_vec<T, V>(brow + col);
      }
    }
    // The second input's vector k (registers or shared memory).
    auto b_of = [&](int k, std::int64_t col) -> Vec<T, V> {
      if constexpr (kSmemB) return load_vec<T, V>(smem_b + col);
      else if constexpr (kTwo) return cb[k];
      else return Vec<T, V>{};
    };
    Stat st = stat_init<M>();
#pragma unroll
    for (int k = 0; k < PACKS; ++k) {
      const std::int64_t col = (static_cast<std::int64_t>(k) * G + tid) * V;
      if (col < p.cols) {
        float a[V], b[V];
        const Vec<T, V> bv = b_of(k, col);
#pragma unroll
        for (int e = 0; e < V; ++e) a[e] = to_float(ca[k].v[e]), b[e] = kTwo ? to_float(bv.v[e]) : 0.0f;
        accumulate<M, V>(st, a, b, p.targets + row * p.cols, col);
      }
    }
    st = kWarp ? warp_merge<M>(st) : block_merge<M>(st, scratch);
    if (tid == 0 && is_ce(M)) write_loss<M>(st, p, row);
    if (is_ce(M) && p.out == nullptr) continue;
    const RowConsts c = row_consts<M>(st, p, row);
#pragma unroll
    for (int k = 0; k < PACKS; ++k) {
      const std::int64_t col = (static_cast<std::int64_t>(k) * G + tid) * V;
      if (col < p.cols) {
        float a[V], b[V];
        const Vec<T, V> bv = b_of(k, col);
#pragma unroll
        for (int e = 0; e < V; ++e) a[e] = to_float(ca[k].v[e]), b[e] = kTwo ? to_float(bv.v[e]) : 0.0f;
        emit<M, T, V>(c, a, b, p, row, col);
      }
    }
  }
}

// Long rows: a block per row, phase 2 reads the row again.
template <Mode M, typename T, int V>
__global__ void __launch_bounds__(512) rows_uncached_kernel(RowArgs<T> p) {
  constexpr bool kTwo = is_bwd(M);
  __shared__ Stat scratch[33];
  for (std::int64_t row = blockIdx.x; row < p.rows; row += gridDim.x) {
    const T* arow = p.a + row * p.cols;
    const T* brow = kTwo ? p.b + row * p.cols : nullptr;
    Stat st = stat_init<M>();
    float b[V];
#pragma unroll
    for (int e = 0; e < V; ++e) b[e] = 0.0f;
    for (std::int64_t col = static_cast<std::int64_t>(threadIdx.x) * V; col < p.cols; col += blockDim.x * V) {
      float a[V];
      load_floats<T, V>(arow + col, a);
      if constexpr (kTwo) load_floats<T, V>(brow + col, b);
      accumulate<M, V>(st, a, b, p.targets + row * p.cols, col);
    }
    st = block_merge<M>(st, scratch);
    if (threadIdx.x == 0 && is_ce(M)) write_loss<M>(st, p, row);
    if (is_ce(M) && p.out == nullptr) continue;
    const RowConsts c = row_consts<M>(st, p, row);
    for (std::int64_t col = static_cast<std::int64_t>(threadIdx.x) * V; col < p.cols; col += blockDim.x * V) {
      float a[V];
      load_floats<T, V>(arow + col, a);
      if constexpr (kTwo) load_floats<T, V>(brow + col, b);
      emit<M, T, V>(c, a, b, p, row, col);
    }
  }
}

constexpr int kWarpThreads = 256;    // 8 rows per block on the warp path
constexpr int kBlockThreads = 1024;  // most threads of a block-per-row kernel

unsigned capped_grid(std::int64_t blocks) {
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 0x7fffffff ? 0x7fffffff : blocks));
}

template <Mode M, typename T, int V, int PACKS>
void launch_warp(const RowArgs<T>& p, cudaStream_t s) {
  rows_cached_kernel<M, T, V, PACKS, true, kWarpThreads>
      <<<capped_grid(ceil_div<std::int64_t>(p.rows, kWarpThreads / 32)), kWarpThreads, 0, s>>>(p);
}

template <Mode M, typename T, int V>
void launch_rows(const RowArgs<T>& p, cudaStream_t s) {
  const std::int64_t vecs = p.cols / V;  // vectors per row
  if (vecs <= 32) return launch_warp<M, T, V, 1>(p, s);
  if (vecs <= 64) return launch_warp<M, T, V, 2>(p, s);
  if (vecs <= 128) return launch_warp<M, T, V, 4>(p, s);
  if constexpr (V == 1) {
    if (vecs <= 256) return launch_warp<M, T, V, 8>(p, s);
    if (vecs <= 512) return launch_warp<M, T, V, 16>(p, s);
    if (vecs <= 1024) return launch_warp<M, T, V, 32>(p, s);
  }
  // Block per row, cached in registers: 32 registers of values per thread per row: 32 floats or
  // 64 halves for one input (halves with at most 512 threads, whose register cap is 128), half
  // that per input for two. Scalar columns cost registers of their own, so V = 1 keeps 8 values
  // (4 per input for two).
  constexpr int kPacks1 = V == 1 ? 8 : (sizeof(T) == 2 ? 8 : 4);
  constexpr int kThreads1 = (V == 8 && sizeof(T) == 2) ? 512 : kBlockThreads;
  constexpr int kPacks2 = V == 1 ? 4 : (sizeof(T) == 2 ? 4 : 2);
  auto threads_for = [&](int packs) {
    return static_cast<int>(ceil_div<std::int64_t>(ceil_div<std::int64_t>(vecs, packs), 32) * 32);
  };
  if constexpr (!is_bwd(M)) {
    if (vecs <= static_cast<std::int64_t>(kThreads1) * kPacks1) {
      rows_cached_kernel<M, T, V, kPacks1, false, kThreads1><<<capped_grid(p.rows), threads_for(kPacks1), 0, s>>>(p);
      return;
    }
  } else {
    if (vecs <= static_cast<std::int64_t>(kBlockThreads) * kPacks2) {
      rows_cached_kernel<M, T, V, kPacks2, false, kBlockThreads><<<capped_grid(p.rows), threads_for(kPacks2), 0, s>>>(p);
      return;
    }
    // Floats: the first input in registers, the second in shared memory, while it fits.
    if constexpr (sizeof(T) == 4) {
      const std::size_t smem = static_cast<std::size_t>(p.cols) * sizeof(T);
      constexpr std::size_t kStaticScratch = 1024;  // the block reduction's slots, rounded up
      if (vecs <= static_cast<std::int64_t>(kBlockThreads) * kPacks1 && smem + kStaticScratch <= max_dynamic_smem()) {
        auto kernel = rows_cached_kernel<M, T, V, kPacks1, false, kBlockThreads, true>;
        allow_dynamic_smem(kernel, smem);
        kernel<<<capped_grid(p.rows), threads_for(kPacks1), smem, s>>>(p);
        return;
      }
    }
  }
  rows_uncached_kernel<M, T, V><<<capped_grid(p.rows), 512, 0, s>>>(p);
}

template <Mode M, typename T>
void run(const char* op, RowArgs<T> p, cudaStream_t s) {
  TILENET_CHECK(p.rows >= 0 && p.cols >= 1, ShapeError, op, ": expected rows >= 0 and cols >= 1, got ", p.rows, "x",
                p.cols);
  if (p.rows == 0) return;
  TILENET_CHECK(p.a && (p.out || is_ce(M)) && (!is_bwd(M) || p.b) && (M != Mode::ce_hard || p.labels) &&
                    (M != Mode::ce_soft || p.targets) && (!is_ce(M) || p.losses),
                ValueError, op, ": null pointer argument");
  const bool vec = p.cols % 8 == 0 && is_aligned(p.a, 16) && (!p.b || is_aligned(p.b, 16)) &&
                   (!p.out || is_aligned(p.out, 16)) && (!p.targets || is_aligned(p.targets, 16));
  if (vec)
    launch_rows<M, T, 8>(p, s);
  else
    launch_rows<M, T, 1>(p, s);
  check_launch(op, s);
}

template <typename T>
RowArgs<T> args(const T* a, const T* b, T* out, std::int64_t rows, std::int64_t cols) {
  RowArgs<T> p{};
  p.a = a, p.b = b, p.out = out, p.rows = rows, p.cols = cols, p.scale = 1.0f;
  return p;
}

template <typename T>
void forward(const T* x, T* y, std::int64_t rows, std::int64_t cols, bool log, cudaStream_t s) {
  if (log)
    run<Mode::log_softmax>("log_softmax_forward", args(x, static_cast<const T*>(nullptr), y, rows, cols), s);
  else
    run<Mode::softmax>("softmax_forward", args(x, static_cast<const T*>(nullptr), y, rows, cols), s);
}

template <typename T>
void backward(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t cols, bool log, cudaStream_t s) {
  if (log)
    run<Mode::log_softmax_bwd>("log_softmax_backward", args(y, dy, dx, rows, cols), s);
  else
    run<Mode::softmax_bwd>("softmax_backward", args(y, dy, dx, rows, cols), s);
}

template <typename T>
void ce_hard(const T* logits, const std::int32_t* labels, float* losses, T* dl, std::int64_t rows, std::int64_t cols,
             float scale, const float* scale_device, cudaStream_t s) {
  RowArgs<T> p = args(logits, static_cast<const T*>(nullptr), dl, rows, cols);
  p.labels = labels, p.losses = losses, p.scale = scale, p.scale_device = scale_device;
  run<Mode::ce_hard>("softmax_cross_entropy", p, s);
}

template <typename T>
void ce_soft(const T* logits, const float* targets, float* losses, T* dl, std::int64_t rows, std::int64_t cols,
             float scale, const float* scale_device, cudaStream_t s) {
  RowArgs<T> p = args(logits, static_cast<const T*>(nullptr), dl, rows, cols);
  p.targets = targets, p.losses = losses, p.scale = scale, p.scale_device = scale_device;
  run<Mode::ce_soft>("softmax_cross_entropy_soft", p, s);
}

}  // namespace

#define TILENET_SOFTMAX_CUDA(T)                                                                                   \
  void softmax_forward(const T* x, T* y, std::int64_t rows, std::int64_t cols, bool log, cudaStream_t s) {        \
    forward(x, y, rows, cols, log, s);                                                                            \
  }                                                                                                               \
  void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t cols, bool log,           \
                        cudaStream_t s) {                                                                         \
    backward(y, dy, dx, rows, cols, log, s);                                                                      \
  }                                                                                                               \
  void softmax_cross_entropy(const T* logits, const std::int32_t* labels, float* losses, T* dl, std::int64_t rows, \
                             std::int64_t cols, float scale, const float* scale_device, cudaStream_t s) {         \
    ce_hard(logits, labels, losses, dl, rows, cols, scale, scale_device, s);                                      \
  }                                                                                                               \
  void softmax_cross_entropy_soft(const T* logits, const float* targets, float* losses, T* dl, std::int64_t rows, \
                                  std::int64_t cols, float scale, const float* scale_device, cudaStream_t s) {    \
    ce_soft(logits, targets, losses, dl, rows, cols, scale, scale_device, s);                                     \
  }

TILENET_SOFTMAX_CUDA(float)
TILENET_SOFTMAX_CUDA(half)
#undef TILENET_SOFTMAX_CUDA

}  // namespace tilenet::kernels
