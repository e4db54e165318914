// Device helpers shared by the GEMM kernels: operand element loads, the fused epilogue
// (alpha, beta, bias, ReLU, fp32 or fp16 output; vector stores where aligned, guarded scalar
// stores at ragged edges), cp.async / ldmatrix / mma.sync wrappers, and the batch-chunk launcher.
#pragma once

#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/gemm_args.h"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels::gemm_detail {

__device__ __forceinline__ float load_in(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float load_in(const __half* p, long long i) { return __half2float(p[i]); }

// V consecutive floats / halves through one aligned access (V * size <= 16).
template <int V>
__device__ __forceinline__ void load_floats(const float* p, float (&v)[V]) {
  if constexpr (V == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
  } else if constexpr (V == 2) {
    const float2 t = *reinterpret_cast<const float2*>(p);
    v[0] = t.x, v[1] = t.y;
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = p[i];
  }
}
template <int V>
__device__ __forceinline__ void load_floats(const __half* p, float (&v)[V]) {
  if constexpr (V == 2 || V == 4 || V == 8) {
    alignas(16) __half2 h[V / 2];  // written as one 4/8/16-byte word
    if constexpr (V == 2) *reinterpret_cast<unsigned*>(h) = *reinterpret_cast<const unsigned*>(p);
    if constexpr (V == 4) *reinterpret_cast<uint2*>(h) = *reinterpret_cast<const uint2*>(p);
    if constexpr (V == 8) *reinterpret_cast<uint4*>(h) = *reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int i = 0; i < V / 2; ++i) {
      const float2 f = __half22float2(h[i]);
      v[2 * i] = f.x, v[2 * i + 1] = f.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = __half2float(p[i]);
  }
}
template <int V>
__device__ __forceinline__ void store_floats(float* p, const float (&v)[V]) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else if constexpr (V == 2) {
    *reinterpret_cast<float2*>(p) = make_float2(v[0], v[1]);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) p[i] = v[i];
  }
}
template <int V>
__device__ __forceinline__ void store_floats(__half* p, const float (&v)[V]) {
  if constexpr (V == 2 || V == 4 || V == 8) {
    alignas(16) __half2 h[V / 2];  // read back as one 4/8/16-byte word
#pragma unroll
    for (int i = 0; i < V / 2; ++i) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
    if constexpr (V == 2) *reinterpret_cast<unsigned*>(p) = *reinterpret_cast<const unsigned*>(h);
    if constexpr (V == 4) *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(h);
    if constexpr (V == 8) *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(h);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) p[i] = __float2half_rn(v[i]);
  }
}

__device__ __forceinline__ float epilogue_one(const GemmArgs& g, float acc, float c_old, float bias) {
  float v = g.alpha * acc;
  if (g.beta != 0.0f) v = fmaf(g.beta, c_old, v);
  v += bias;
  // A NaN passes ReLU, as in the references. The same function as relu_keep_nan
  // (kernels/relu_device.cuh), written as a select here: with the PTX max, mma_sync cfg 0 A^T B^T
  // spills 4 bytes at its 128-register cap; with the select it spills none.
  return g.relu && v < 0.0f ? 0.0f : v;
}

template <typename TO, int V>
__device__ __forceinline__ void store_c_typed(const GemmArgs& g, int z, int row, int col, const float (&acc)[V]) {
  TO* c = static_cast<TO*>(g.c) + z * g.sc + static_cast<long long>(row) * g.ldc + col;
  if (V > 1 && g.c_vec >= V && col <= g.n - V) {  // (col + V could overflow near 2^31)
    float cv[V], bv[V], out[V];
#pragma unroll
    for (int i = 0; i < V; ++i) cv[i] = 0.0f, bv[i] = 0.0f;
    if (g.beta != 0.0f) load_floats<V>(c, cv);
    if (g.bias) load_floats<V>(g.bias + col, bv);
#pragma unroll
    for (int i = 0; i < V; ++i) out[i] = epilogue_one(g, acc[i], cv[i], bv[i]);
    store_floats<V>(c, out);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) {
      if (i < g.n - col) {
        const float cv = g.beta != 0.0f ? load_in(c, i) : 0.0f;
        const float bv = g.bias ? g.bias[col + i] : 0.0f;
        float out[1] = {epilogue_one(g, acc[i], cv, bv)};
        store_floats<1>(c + i, out);
      }
    }
  }
}

// C[z][row][col .. col+V) = epilogue(acc); rows past m and columns past n are skipped.
template <int V>
__device__ __forceinline__ void store_c(const GemmArgs& g, int z, int row, int col, const float (&acc)[V]) {
  if (row >= g.m) return;
  if (g.c_half)
    store_c_typed<__half, V>(g, z, row, col, acc);
  else
    store_c_typed<float, V>(g, z, row, col, acc);
}

// Linear block index -> (tile row, tile column), walking groups of 8 tile rows column by column
// so blocks running together share operand tiles in L2.
__device__ __forceinline__ void raster(int tiles_m, int tiles_n, int& tm, int& tn) {
  constexpr int kGroup = 8;
  const int t = blockIdx.x, per_group = kGroup * tiles_n;
  const int first_m = (t / per_group) * kGroup, rows = min(tiles_m - first_m, kGroup), r = t % per_group;
  tm = first_m + r % rows;
  tn = r / rows;
}

// ---- Ampere+ asynchronous copies and Tensor Core fragments -------------------------------------

__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy; bytes past src_bytes (0..16) are zero-filled.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(src_bytes));
#else
  // Synchronous fallback (sm_70): same result, no overlap.
  uint4 v = make_uint4(0, 0, 0, 0);
  if (src_bytes == 16) {
    v = *static_cast<const uint4*>(gmem);
  } else {
    unsigned char* d = reinterpret_cast<unsigned char*>(&v);
    for (int i = 0; i < src_bytes; ++i) d[i] = static_cast<const unsigned char*>(gmem)[i];
  }
  *static_cast<uint4*>(smem) = v;
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

template <bool kTrans>
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* smem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
  if constexpr (kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(smem)));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(smem)));
#else
  r[0] = r[1] = r[2] = r[3] = 0;
  __trap();
#endif
}

// D(16x8, f32) += A(16x16, f16, row) * B(16x8, f16, col).
__device__ __forceinline__ void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

}  // namespace tilenet::kernels::gemm_detail

namespace tilenet::kernels {

// Calls launch(ta, tb) with std::bool_constant values of g's transposes: the kernel instance for
// each combination is picked at run time.
template <typename F>
void with_transposes(const GemmArgs& g, F&& launch) {
  using N = std::false_type;
  using T = std::true_type;
  if (!g.ta && !g.tb)
    launch(N{}, N{});
  else if (!g.ta)
    launch(N{}, T{});
  else if (!g.tb)
    launch(T{}, N{});
  else
    launch(T{}, T{});
}

// Launches `launch(args, batches)` over chunks of at most kMaxGridZ batches.
template <typename F>
void for_batch_chunks(const GemmArgs& g, int batch, bool half_in, F&& launch) {
  for (long long b0 = 0; b0 < batch; b0 += kMaxGridZ)
    launch(b0 == 0 ? g : gemm_args_at_batch(g, b0, half_in),
           static_cast<int>(std::min<long long>(kMaxGridZ, batch - b0)));
}

}  // namespace tilenet::kernels
