// Probe kernels for the emulator's own checks (tests/emu/test_emu_traps.cpp): each runs a tiny
// kernel that does one thing right or one thing wrong, so the test can assert that the emulator
// computes the right thing and reports the wrong one. Emulator-only: nothing here is built for a GPU.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

namespace emu_traps {

// What the wgmma probe does besides one m64n128k16 (A 64x16 and B 128x16, both K-major, fp16 bits,
// in 128-byte swizzled tiles filled by cp.async).
enum class WgmmaFault {
  none,
  no_proxy_fence,        // no fence.proxy.async between the cp.async data and the wgmma
  no_wgmma_fence,        // no wgmma.fence before the first wgmma
  uneven_issue,          // the warpgroup's last warp skips the wgmma
  copy_in_flight,        // a cp.async into A while the wgmma is in flight
  store_in_flight,       // a plain store into A while the wgmma is in flight
  store_unread_in_flight,  // the same store into A's tile, at k = 40: a byte this wgmma never reads
  store_then_barrier,    // thread 37 stores into A, then the block meets at a barrier, then waits
  store_after_wait,      // thread 0 stores into A after its own wgmma.wait_group
  store_after_barrier,   // every thread waits, a barrier, then thread 37 stores into A
};

// Row-major 64x128 D = A * B^T (float), or a std::runtime_error naming what the emulator trapped.
std::vector<float> wgmma_probe(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b,
                               WgmmaFault fault);

// One thread copies src (16 bytes) into fresh dynamic shared memory with cp.async and reads it
// before and after cp.async.wait_group.
void cp_async_probe(const float (&src)[4], float (&before)[4], float (&after)[4]);

// 64 threads: warp 0 and half of warp 1 wait at __syncthreads, the other half at a full-warp
// __syncwarp: a barrier no thread set completes.
void deadlock_probe();

// 32 threads wait on an mbarrier expecting 2 arrivals that gets 1 (`arrivals` = 1), or 2 (it
// completes and the kernel ends).
void mbarrier_probe(int arrivals);

// A warp's ldmatrix.x4 with row addresses 8 bytes off 16-byte alignment.
void ldmatrix_probe();

// Launches a kernel with 64 KB of dynamic shared memory (after the opt-in when `opt_in`) and
// returns cudaGetLastError(); when it ran, the kernel wrote 1.0 into *ran (host memory).
cudaError_t big_smem_probe(bool opt_in, float* ran);

// A kernel writes one float past the end of a 10-float cudaMalloc buffer, then the buffer is freed.
void overrun_probe();

}  // namespace emu_traps
