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
#include "kernels/mma_sync_ops.cuh"
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

// ---- Ampere+ asynchronous copies and Tensor Core fragments (kernels/mma_sync_ops.cuh) -------------

using tc::cp_async_16;
using tc::cp_async_commit;
using tc::cp_async_wait;
using tc::ldmatrix_x4;
using tc::mma_16816;
using tc::smem_addr;

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
