// Device helpers shared by the kernel families: half conversion, 16-byte packs, warp/block reductions.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/relu_device.cuh"
#include "tensor/half.h"

namespace tilenet::kernels {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(half v) { return __half2float(__ushort_as_half(v.bits)); }
template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ half from_float<half>(float v) {
  half h;
  h.bits = __half_as_ushort(__float2half_rn(v));
  return h;
}

// kPack elements of T moved with 16-byte accesses (one for 8 halves, two for 8 floats).
constexpr int kPack = 8;
template <typename T>
struct alignas(16) Pack {
  T v[kPack];
};

template <typename T>
__device__ __forceinline__ Pack<T> load_pack(const T* p) {
  Pack<T> r;
  const uint4* s = reinterpret_cast<const uint4*>(p);
  uint4* d = reinterpret_cast<uint4*>(r.v);
#pragma unroll
  for (int k = 0; k < static_cast<int>(sizeof(Pack<T>) / 16); ++k) d[k] = s[k];
  return r;
}

template <typename T>
__device__ __forceinline__ void store_pack(T* p, const Pack<T>& r) {
  uint4* d = reinterpret_cast<uint4*>(p);
  const uint4* s = reinterpret_cast<const uint4*>(r.v);
#pragma unroll
  for (int k = 0; k < static_cast<int>(sizeof(Pack<T>) / 16); ++k) d[k] = s[k];
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduces one value per thread over the block; every thread gets the result. `scratch` holds
// 32 floats of shared memory. blockDim.x must be a multiple of 32.
template <bool kMax>
__device__ __forceinline__ float block_reduce(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = kMax ? warp_max(v) : warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const float ident = kMax ? -INFINITY : 0.0f;
  v = lane < nwarps ? scratch[lane] : ident;
  return kMax ? warp_max(v) : warp_sum(v);
}

}  // namespace tilenet::kernels
