// Ampere+ Tensor Core primitives shared by the fp16 GEMM kernels (kernels/gemm_device.cuh) and
// the fp16 implicit-GEMM convolution: 16-byte cp.async (L2-only or through L1, zero-filling past
// the bytes it is told to read), its commit/wait, ldmatrix.x4 (.trans for operands stored
// MN-major) and mma.sync.m16n8k16 with fp32 accumulation. Below sm_80 the copy is synchronous and
// the fragment instructions trap (their launchers refuse such devices). TILENET_EMU: the CPU
// emulator's versions (tests/emu/cuda_emu.h), for the emulation tests only.
#pragma once

#include <cuda_fp16.h>

namespace tilenet::kernels::tc {

__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy; bytes past src_bytes (0..16) are zero-filled, and with
// src_bytes 0 nothing is read. kL1: cache in L1 too (.ca; operands re-read by neighbouring
// threads, e.g. overlapping convolution windows), else L2 only (.cg).
template <bool kL1 = false>
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, int src_bytes) {
#if defined(TILENET_EMU)
  ::tilenet_emu::cp_async(smem, gmem, 16, src_bytes);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (kL1)
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(src_bytes));
  else
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
#if defined(TILENET_EMU)
  ::tilenet_emu::cp_async_commit();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(TILENET_EMU)
  ::tilenet_emu::cp_async_wait(N);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

template <bool kTrans>
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* smem) {
#if defined(TILENET_EMU)
  ::tilenet_emu::ldmatrix_x4(r, smem, kTrans);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
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
#if defined(TILENET_EMU)
  ::tilenet_emu::mma_16816(d, a, b0, b1);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

}  // namespace tilenet::kernels::tc
