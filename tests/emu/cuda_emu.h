// CPU emulation of the CUDA execution model, for running tilenet's own kernel sources on a machine
// without a GPU (tests/emu). Force-included (-include) ahead of a kernel source that
// tests/emu/emu_rewrite.cpp has made host-compilable. Every CUDA thread of a block runs as its own
// user-level context (ucontext) on one OS thread: a thread runs until it reaches __syncthreads, a
// warp-collective operation (__syncwarp, shuffles, votes, ldmatrix, mma.sync, WMMA) or its end, so
// the order is deterministic and a barrier that not every thread reaches is reported as a
// deadlock instead of hanging. Blocks run one after another. What it checks besides the results:
//   - barrier and warp-collective divergence (deadlock report naming the waiting threads);
//   - dynamic shared memory over 48 KB without cudaFuncSetAttribute, over 227 KB, bad launch
//     geometry (as cudaErrorInvalidValue / cudaErrorInvalidConfiguration from cudaGetLastError);
//   - dynamic shared memory starts NaN-poisoned (0xFF bytes) in every block;
//   - cp.async lands only at cp.async.wait_group (a read before the wait sees the old contents);
//   - ldmatrix / mma.sync / WMMA operand alignment, shuffles from lanes that exited.
//   - Hopper: mbarrier phases, TMA (tensor maps, swizzle, out-of-bounds fill), wgmma descriptors
//     and accumulator layout, executed at wgmma.wait_group; every thread of a warpgroup issues
//     the same wgmma sequence; writes into operands in flight and unfenced cp.async data trap.
// tests/emu/test_emu_traps.cpp checks that each of these reports fires on a kernel that earns it.
// Not emulated: timing, memory ordering between blocks, texture/constant caches, clusters.
// Host code only; nothing here is part of the library.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __shared__
#define __shared__ static
#undef __constant__
#define __constant__ static
#undef __forceinline__
#define __forceinline__ inline
#undef __noinline__
#define __noinline__
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __grid_constant__
#define __grid_constant__

extern dim3 threadIdx, blockIdx, blockDim, gridDim;
constexpr int warpSize = 32;

namespace tilenet_emu {

// ---- launches ----------------------------------------------------------------------------------
struct LaunchConfig {
  const void* fn = nullptr;
  dim3 grid, block;
  std::size_t smem = 0;
  cudaStream_t stream = nullptr;
};
// Runs body() for every thread of every block of cfg (see the top of this file), or records the
// launch when cfg.stream is being captured into a graph. Launch errors become the next
// cudaGetLastError(); failures inside the kernel throw std::runtime_error.
void submit(const LaunchConfig& cfg, std::function<void()> body);
void* dynamic_smem_base();

template <typename T>
T* dynamic_smem() {
  return static_cast<T*>(dynamic_smem_base());
}

// `call` runs the kernel with the launch's arguments (each thread gets its own copies of them).
template <typename Call>
struct Launcher {
  Call call;
  LaunchConfig cfg;
  template <typename... A>
  void operator()(A&&... args) const {
    auto params = std::make_shared<std::tuple<std::decay_t<A>...>>(std::forward<A>(args)...);
    const Call c = call;
    submit(cfg, [c, params] { std::apply(c, *params); });
  }
};

// A kernel named with its template arguments: its address is known, so the >48 KB dynamic
// shared-memory opt-in is checked.
template <typename... P>
Launcher<void (*)(P...)> launch(void (*fn)(P...), dim3 grid, dim3 block, std::size_t smem = 0,
                                cudaStream_t stream = nullptr) {
  return {fn, LaunchConfig{reinterpret_cast<const void*>(fn), grid, block, smem, stream}};
}
// A kernel named without template arguments (they may be deduced from the arguments, as <<<>>>
// allows): `call` (emu_rewrite's `[=](auto... a) { k(a...); }`) forwards to it. When `k` is a
// function-pointer variable (`auto* kernel = k<C>; kernel<<<...>>>`), that pointer is the
// lambda's one capture, so its address is known and the opt-in is checked; a function (template)
// name is captured by nothing, and its opt-in is not checked.
template <typename Call>
Launcher<Call> launch_deduced(Call call, dim3 grid, dim3 block, std::size_t smem = 0, cudaStream_t stream = nullptr) {
  const void* fn = nullptr;
  if constexpr (sizeof(Call) == sizeof(void*) && std::is_trivially_copyable<Call>::value)
    std::memcpy(&fn, &call, sizeof fn);
  return {call, LaunchConfig{fn, grid, block, smem, stream}};
}

// ---- synchronisation and warp collectives ------------------------------------------------------
void syncthreads();
// __syncthreads that also returns how many threads of the block passed a nonzero predicate.
int syncthreads_count(int pred);
[[noreturn]] void trap(const char* what);

struct LaneSlot {
  alignas(16) unsigned char in[64];
  alignas(16) unsigned char out[64];
  unsigned mask;  // the lanes this lane named as participants
};
// Called once, on the scheduler, when every lane of `mask` has arrived (lanes[i].in filled);
// fills lanes[i].out for each participating lane.
using Combine = void (*)(LaneSlot* lanes, unsigned mask);
// The calling lane's part of a collective: in (<= 64 bytes) goes to its slot, the thread waits for
// the participants of `mask` (all of which must not have exited), then out (<= 64 bytes) is read.
void warp_collective(Combine op, unsigned mask, const void* in, std::size_t in_bytes, void* out,
                     std::size_t out_bytes);
int lane_id();

void syncwarp(unsigned mask);
std::uint64_t shfl(unsigned mask, std::uint64_t bits, int kind, int arg, int width);
unsigned vote(unsigned mask, int pred);

// ---- Ampere Tensor Core and async-copy primitives (kernels/mma_sync_ops.cuh) --------------------
void cp_async(void* smem, const void* gmem, int bytes, int src_bytes);
void cp_async_commit();
void cp_async_wait(int pending);
void ldmatrix_x4(unsigned (&r)[4], const void* smem, bool trans);
void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1);

// ---- Hopper primitives (kernels/gemm_wgmma_sm90a.cu, gemm_wgmma_ops.cuh) ------------------------
// The block's shared-memory window: dynamic shared memory starts 128 bytes into a 1024-aligned
// window (as it follows the static shared variables on the device), and a window address is what
// wgmma descriptors and TMA use. A pointer outside the window keeps its low 32 bits.
unsigned shared_address(const void* p);
// mbarrier: init with the arrival count; arrive (with tx_bytes > 0: arrive.expect_tx); try_wait
// on the phase parity, true once the phase of that parity has completed.
void mbar_init(std::uint64_t* bar, unsigned count);
void mbar_arrive(std::uint64_t* bar, unsigned tx_bytes);
bool mbar_try_wait(std::uint64_t* bar, unsigned parity);
// cp.async.bulk.tensor (tiled, global -> shared) of the box at `coords` (innermost first) of a
// map made by the emulated cuTensorMapEncodeTiled; completes `bar`'s transaction bytes.
void tma_load(void* smem, const void* map, std::uint64_t* bar, const int* coords, int rank);
// wgmma.mma_async m64nNk16, f32 += f16 x f16, operands from shared-memory descriptors (mn_major:
// the transpose immediate). The warpgroup's first issue copies the operands; each thread's
// accumulators are computed from that copy at the wgmma.wait_group that retires its commit group.
// A thread that changes an operand byte before it may (see hopper_emu.cpp) is reported.
void wgmma(float* d, int n, std::uint64_t desc_a, std::uint64_t desc_b, int mn_major_a, int mn_major_b);
void wgmma_fence();
// fence.proxy.async.shared::cta: the running thread's earlier cp.async writes become readable by wgmma.
void fence_proxy_async();
void wgmma_commit();
void wgmma_wait(int pending);

// fp16 bits <-> float without the CUDA headers' host paths.
float half_bits_to_float(unsigned short h);
unsigned short float_to_half_bits(float f);

template <typename T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a value over 8 bytes");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(static_cast<void*>(&v), &b, sizeof(T));
  return v;
}
enum ShflKind { kShflIdx, kShflXor, kShflDown, kShflUp };

}  // namespace tilenet_emu

// ---- the CUDA device API the kernels use --------------------------------------------------------
inline void __syncthreads() { tilenet_emu::syncthreads(); }
inline int __syncthreads_count(int p) { return tilenet_emu::syncthreads_count(p); }
inline int __syncthreads_or(int p) { return tilenet_emu::syncthreads_count(p) != 0; }
inline int __syncthreads_and(int p) { return tilenet_emu::syncthreads_count(!p) == 0; }
inline void __syncwarp(unsigned mask = 0xffffffffu) { tilenet_emu::syncwarp(mask); }
[[noreturn]] inline void __trap() { tilenet_emu::trap("__trap()"); }
inline void __threadfence() {}
inline void __threadfence_block() {}

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return tilenet_emu::from_bits<T>(tilenet_emu::shfl(mask, tilenet_emu::to_bits(v), tilenet_emu::kShflIdx, src, width));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return tilenet_emu::from_bits<T>(
      tilenet_emu::shfl(mask, tilenet_emu::to_bits(v), tilenet_emu::kShflXor, lane_mask, width));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return tilenet_emu::from_bits<T>(
      tilenet_emu::shfl(mask, tilenet_emu::to_bits(v), tilenet_emu::kShflDown, static_cast<int>(delta), width));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return tilenet_emu::from_bits<T>(
      tilenet_emu::shfl(mask, tilenet_emu::to_bits(v), tilenet_emu::kShflUp, static_cast<int>(delta), width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return tilenet_emu::vote(mask, pred); }
inline int __any_sync(unsigned mask, int pred) { return tilenet_emu::vote(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return tilenet_emu::vote(mask, !pred) == 0; }
inline unsigned __activemask() { return tilenet_emu::vote(0xffffffffu, 1); }

template <typename T>
T __ldg(const T* p) {
  return *p;
}
// One OS thread runs every CUDA thread: a plain read-modify-write is atomic here.
namespace tilenet_emu {
template <typename T, typename F>
T atomic_update(T* p, F next) {
  const T old = *p;
  *p = next(old);
  return old;
}
}  // namespace tilenet_emu
template <typename T>
T atomicAdd(T* p, T v) {
  return tilenet_emu::atomic_update(p, [v](T o) { return o + v; });
}
template <typename T>
T atomicMax(T* p, T v) {
  return tilenet_emu::atomic_update(p, [v](T o) { return o < v ? v : o; });
}
template <typename T>
T atomicMin(T* p, T v) {
  return tilenet_emu::atomic_update(p, [v](T o) { return v < o ? v : o; });
}
template <typename T>
T atomicOr(T* p, T v) {
  return tilenet_emu::atomic_update(p, [v](T o) { return o | v; });
}
template <typename T>
T atomicExch(T* p, T v) {
  return tilenet_emu::atomic_update(p, [v](T) { return v; });
}
template <typename T>
T atomicCAS(T* p, T cmp, T v) {
  return tilenet_emu::atomic_update(p, [cmp, v](T o) { return o == cmp ? v : o; });
}

// CUDA's integer min/max overloads accept mixed argument types.
template <typename A, typename B>
constexpr std::common_type_t<A, B> min(A a, B b) {
  return b < a ? b : a;
}
template <typename A, typename B>
constexpr std::common_type_t<A, B> max(A a, B b) {
  return a < b ? b : a;
}

using std::isfinite;
using std::isinf;
using std::isnan;

inline unsigned __cvta_generic_to_shared(const void* p) { return tilenet_emu::shared_address(p); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __int_as_float(int i) { return tilenet_emu::from_bits<float>(static_cast<unsigned>(i)); }
inline int __float_as_int(float f) { return static_cast<int>(static_cast<unsigned>(tilenet_emu::to_bits(f))); }
inline unsigned __float_as_uint(float f) { return static_cast<unsigned>(tilenet_emu::to_bits(f)); }
inline float __uint_as_float(unsigned u) { return tilenet_emu::from_bits<float>(u); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(unsigned x) { return x == 0 ? 32 : __builtin_clz(x); }
inline int __ffs(unsigned x) { return __builtin_ffs(static_cast<int>(x)); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}

// The runtime's C++ conveniences that take a kernel's address (cuda_runtime.h has them for nvcc only).
template <typename T>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, T* f) {
  return ::cudaFuncGetAttributes(a, reinterpret_cast<const void*>(f));
}
template <typename T>
cudaError_t cudaFuncSetAttribute(T* f, cudaFuncAttribute attr, int v) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(f), attr, v);
}
template <typename T>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, T* f, int block, std::size_t smem) {
  return ::cudaOccupancyMaxActiveBlocksPerMultiprocessor(n, reinterpret_cast<const void*>(f), block, smem);
}

#include "wmma_emu.h"
