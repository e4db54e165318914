// Internal: the resolved, type-erased argument block every GEMM kernel takes by value, and the
// per-algorithm launchers the dispatcher (gemm.cu) calls. Host-compatible (no CUDA-only types).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tilenet::kernels {

struct GemmArgs {
  const void* a = nullptr;  // [batch] x (m x k, or k x m when ta), lda, elements of 2 or 4 bytes
  const void* b = nullptr;  // [batch] x (k x n, or n x k when tb), ldb
  void* c = nullptr;        // [batch] x m x n, ldc; fp32 or fp16 (c_half)
  int m = 0, n = 0, k = 0;
  long long lda = 0, ldb = 0, ldc = 0;
  long long sa = 0, sb = 0, sc = 0;  // batch strides, elements
  float alpha = 1.0f, beta = 0.0f;
  const float* bias = nullptr;  // [n] or null
  bool ta = false, tb = false, relu = false, c_half = false;
  bool a_vec = false, b_vec = false;  // 16-byte loads along A's / B's rows are aligned
  int c_vec = 1;                      // widest aligned vector (1, 2, 4 or 8 elements) along C rows and bias
};

// Launchers, one per algorithm (kernels/gemm_<algo>.cu). `batch` matrices from blockIdx.z; `cfg`
// indexes the algorithm's configuration table; `half_in` says whether A and B hold fp16.
void launch_gemm_naive(const GemmArgs& g, int batch, bool half_in, cudaStream_t stream);
void launch_gemm_smem_tiled(const GemmArgs& g, int batch, bool half_in, cudaStream_t stream);
void launch_gemm_register_blocked(const GemmArgs& g, int batch, cudaStream_t stream);
void launch_gemm_warp_tiled(const GemmArgs& g, int batch, int cfg, cudaStream_t stream);
void launch_gemm_wmma(const GemmArgs& g, int batch, int cfg, cudaStream_t stream);
void launch_gemm_mma_sync(const GemmArgs& g, int batch, int cfg, cudaStream_t stream);
// sm_90a only (kernels/gemm_wgmma_sm90a.cu); throws DeviceError elsewhere.
void launch_gemm_wgmma(const GemmArgs& g, int batch, int cfg, cudaStream_t stream);
// True when the wgmma path takes these arguments (alignment of pointers, leading dimensions and,
// when batch > 1, batch strides for the tensor maps).
bool wgmma_supports(const GemmArgs& g, int batch);

// Tile configurations per algorithm (names for benches/tests; index = cfg).
struct GemmTileInfo {
  const char* name;
  int bm, bn;  // block tile, for the chooser
};
int warp_tiled_configs(const GemmTileInfo** out);
int wmma_configs(const GemmTileInfo** out);
int mma_sync_configs(const GemmTileInfo** out);
int wgmma_configs(const GemmTileInfo** out);

// Batches beyond gridDim.z's limit are launched in chunks; this advances the pointers.
GemmArgs gemm_args_at_batch(const GemmArgs& g, long long b0, bool half_in);
constexpr int kMaxGridZ = 65535;

}  // namespace tilenet::kernels
