// V consecutive elements of T (float, half, int32) moved with the widest aligned accesses: 16-byte
// words when V * sizeof(T) is a multiple of 16, else one 8-, 4- or 2-byte word. The caller
// guarantees alignment to min(16, V * sizeof(T)) bytes.
#pragma once

#include <cstdint>
#include <type_traits>
#include <initializer_list>

#include "kernels/cuda_utils.cuh"

namespace tilenet::kernels {

template <typename T, int V>
struct alignas(sizeof(T) * V >= 16 ? 16 : sizeof(T) * V) Vec {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ Vec<T, V> load_vec(const T* p) {
  constexpr int kBytes = static_cast<int>(sizeof(T)) * V;
  Vec<T, V> r;
  if constexpr (kBytes % 16 == 0) {
#pragma unroll
    for (int k = 0; k < kBytes / 16; ++k) reinterpret_cast<uint4*>(&r)[k] = reinterpret_cast<const uint4*>(p)[k];
  } else if constexpr (kBytes == 8) {
    *reinterpret_cast<uint2*>(&r) = *reinterpret_cast<const uint2*>(p);
  } else if constexpr (kBytes == 4) {
    *reinterpret_cast<unsigned*>(&r) = *reinterpret_cast<const unsigned*>(p);
  } else {
    static_assert(kBytes == 2, "unsupported vector size");
    *reinterpret_cast<unsigned short*>(&r) = *reinterpret_cast<const unsigned short*>(p);
  }
  return r;
}

template <typename T, int V>
__device__ __forceinline__ void store_vec(T* p, const Vec<T, V>& r) {
  constexpr int kBytes = static_cast<int>(sizeof(T)) * V;
  if constexpr (kBytes % 16 == 0) {
#pragma unroll
    for (int k = 0; k < kBytes / 16; ++k) reinterpret_cast<uint4*>(p)[k] = reinterpret_cast<const uint4*>(&r)[k];
  } else if constexpr (kBytes == 8) {
    *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(&r);
  } else if constexpr (kBytes == 4) {
    *reinterpret_cast<unsigned*>(p) = *reinterpret_cast<const unsigned*>(&r);
  } else {
    static_assert(kBytes == 2, "unsupported vector size");
    *reinterpret_cast<unsigned short*>(p) = *reinterpret_cast<const unsigned short*>(&r);
  }
}

// Loads V elements as floats / stores V floats rounded to T.
template <typename T, int V>
__device__ __forceinline__ void load_floats(const T* p, float (&out)[V]) {
  const Vec<T, V> r = load_vec<T, V>(p);
#pragma unroll
  for (int k = 0; k < V; ++k) out[k] = to_float(r.v[k]);
}

template <typename T, int V>
__device__ __forceinline__ void store_floats(T* p, const float (&in)[V]) {
  Vec<T, V> r;
#pragma unroll
  for (int k = 0; k < V; ++k) r.v[k] = from_float<T>(in[k]);
  store_vec<T, V>(p, r);
}

// The widest V in {8, 4, 2, 1} dividing `c` for which every pointer given is aligned to
// min(16, V * elem_bytes): rows of c elements then start aligned too.
inline int pick_vec(std::int64_t c, int elem_bytes, std::initializer_list<const void*> ptrs) {
  for (int v : {8, 4, 2}) {
    if (c % v != 0) continue;
    const std::uintptr_t align = static_cast<std::uintptr_t>(v * elem_bytes >= 16 ? 16 : v * elem_bytes);
    bool ok = true;
    for (const void* p : ptrs) ok = ok && (p == nullptr || reinterpret_cast<std::uintptr_t>(p) % align == 0);
    if (ok) return v;
  }
  return 1;
}

// Calls f(std::integral_constant<int, V>{}) for a runtime V in {8, 4, 2, 1} (pick_vec's result):
// one kernel instance per width, chosen at launch.
template <typename F>
void with_vec(int v, F&& f) {
  switch (v) {
    case 8: f(std::integral_constant<int, 8>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 1>{}); break;
  }
}

}  // namespace tilenet::kernels
