// The probe kernels of emu_traps.h. Rewritten by emu_rewrite and run on the emulator only.
#include "emu_traps.h"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/gemm_wgmma_ops.cuh"
#include "kernels/mma_sync_ops.cuh"

namespace emu_traps {
namespace {

using namespace tilenet::kernels;

constexpr int kATileBytes = 64 * 128, kBTileBytes = 128 * 128;  // 64 k per 128-byte row
constexpr int kImageBytes = kATileBytes + kBTileBytes;

// Byte offset of element (row, k) in a 128-byte swizzled K-major tile (1024-byte aligned).
int swizzled(int row, int k) { return row * 128 + (((k / 8) ^ (row % 8)) * 16) + (k % 8) * 2; }

// Device buffer freed on every path (a trap throws out of the launch).
struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(std::size_t bytes) {
    if (cudaMalloc(&p, bytes) != cudaSuccess) throw std::runtime_error("cudaMalloc failed");
  }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

__global__ void wgmma_probe_kernel(const uint4* image, float* out, int fault_id) {
  const auto fault = static_cast<WgmmaFault>(fault_id);
  extern __shared__ __align__(128) unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024u - (tc::smem_addr(smem_raw) & 1023u)) & 1023u);
  const int t = threadIdx.x;
  for (int i = t; i < kImageBytes / 16; i += 128) tc::cp_async_16(smem + 16 * i, image + i, 16);
  tc::cp_async_commit();
  tc::cp_async_wait<0>();
  if (fault != WgmmaFault::no_proxy_fence) gemm_detail::fence_proxy_async();
  __syncthreads();
  float d[64];
  for (float& v : d) v = 0.0f;
  if (fault != WgmmaFault::no_wgmma_fence) gemm_detail::wgmma_fence();
  const std::uint64_t da = gemm_detail::make_desc(smem, 16, 1024);
  const std::uint64_t db = gemm_detail::make_desc(smem + kATileBytes, 16, 1024);
  if (!(fault == WgmmaFault::uneven_issue && t >= 96)) gemm_detail::wgmma_m64n128k16<0, 0>(d, da, db);
  gemm_detail::wgmma_commit();
  auto* a_bits = reinterpret_cast<unsigned short*>(smem);
  if (t == 37) {
    if (fault == WgmmaFault::store_in_flight || fault == WgmmaFault::store_then_barrier)
      a_bits[swizzled(5, 3) / 2] ^= 0x8000u;
    if (fault == WgmmaFault::store_unread_in_flight) a_bits[swizzled(5, 40) / 2] ^= 0x8000u;
    if (fault == WgmmaFault::copy_in_flight) {
      tc::cp_async_16(smem + 16 * 40, image, 16);
      tc::cp_async_commit();
    }
  }
  if (fault == WgmmaFault::store_then_barrier) __syncthreads();
  gemm_detail::wgmma_wait<0>();
  gemm_detail::fence_operands(d);
  if (fault == WgmmaFault::store_after_wait && t == 0) a_bits[swizzled(5, 3) / 2] ^= 0x8000u;
  if (fault == WgmmaFault::store_after_barrier) {
    __syncthreads();
    if (t == 37) a_bits[swizzled(5, 3) / 2] ^= 0x8000u;
  }
  const int warp = t / 32, lane = t % 32;
  for (int j = 0; j < 16; ++j)
    for (int e = 0; e < 4; ++e) {
      const int row = 16 * warp + lane / 4 + 8 * (e / 2), col = 8 * j + 2 * (lane % 4) + e % 2;
      out[row * 128 + col] = d[4 * j + e];
    }
}

__global__ void cp_async_probe_kernel(const float4* src, float* out) {
  extern __shared__ __align__(16) float4 buf[];
  if (threadIdx.x != 0) return;
  tc::cp_async_16(buf, src, 16);
  tc::cp_async_commit();
  const float4 before = buf[0];
  tc::cp_async_wait<0>();
  const float4 after = buf[0];
  const float v[8] = {before.x, before.y, before.z, before.w, after.x, after.y, after.z, after.w};
  for (int i = 0; i < 8; ++i) out[i] = v[i];
}

__global__ void deadlock_probe_kernel() {
  if (threadIdx.x >= 32 && threadIdx.x < 48)
    __syncwarp();
  else
    __syncthreads();
}

// The emulator's mbarrier calls directly (the kernels reach them through gemm_wgmma_sm90a.cu's
// wrappers, which are local to that file).
__global__ void mbarrier_probe_kernel(int arrivals) {
  __shared__ __align__(8) std::uint64_t bar;
  if (threadIdx.x == 0) ::tilenet_emu::mbar_init(&bar, 2);
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < arrivals) ::tilenet_emu::mbar_arrive(&bar, 0);
  while (!::tilenet_emu::mbar_try_wait(&bar, 0)) {
  }
}

__global__ void ldmatrix_probe_kernel() {
  __shared__ __align__(16) unsigned char rows[32 * 16 + 16];
  unsigned r[4];
  tc::ldmatrix_x4<false>(r, rows + 16 * threadIdx.x + 8);
}

__global__ void big_smem_probe_kernel(float* ran) {
  extern __shared__ float big[];
  big[16383] = 1.0f;
  if (threadIdx.x == 0) *ran = big[16383];
}

__global__ void overrun_probe_kernel(float* p, int n) { p[n] = 0.0f; }

}  // namespace

std::vector<float> wgmma_probe(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b,
                               WgmmaFault fault) {
  if (a.size() != 64 * 16 || b.size() != 128 * 16) throw std::invalid_argument("wgmma_probe: A is 64x16, B 128x16");
  std::vector<std::uint16_t> image(kImageBytes / 2, 0x3c00);  // 1.0 where k >= 16: never read
  for (int r = 0; r < 64; ++r)
    for (int k = 0; k < 16; ++k) image[swizzled(r, k) / 2] = a[r * 16 + k];
  for (int n = 0; n < 128; ++n)
    for (int k = 0; k < 16; ++k) image[(kATileBytes + swizzled(n, k)) / 2] = b[n * 16 + k];
  DeviceBuffer dimage(kImageBytes), dout(64 * 128 * sizeof(float));
  cudaMemcpy(dimage.p, image.data(), kImageBytes, cudaMemcpyHostToDevice);
  wgmma_probe_kernel<<<1, 128, kImageBytes + 1024>>>(static_cast<const uint4*>(dimage.p), static_cast<float*>(dout.p),
                                                     static_cast<int>(fault));
  if (cudaGetLastError() != cudaSuccess) throw std::runtime_error("wgmma_probe: launch failed");
  std::vector<float> d(64 * 128);
  cudaMemcpy(d.data(), dout.p, d.size() * sizeof(float), cudaMemcpyDeviceToHost);
  return d;
}

void cp_async_probe(const float (&src)[4], float (&before)[4], float (&after)[4]) {
  DeviceBuffer dsrc(16), dout(8 * sizeof(float));
  cudaMemcpy(dsrc.p, src, 16, cudaMemcpyHostToDevice);
  cp_async_probe_kernel<<<1, 32, 16>>>(static_cast<const float4*>(dsrc.p), static_cast<float*>(dout.p));
  float out[8];
  cudaMemcpy(out, dout.p, sizeof out, cudaMemcpyDeviceToHost);
  for (int i = 0; i < 4; ++i) {
    before[i] = out[i];
    after[i] = out[4 + i];
  }
}

void deadlock_probe() { deadlock_probe_kernel<<<1, 64>>>(); }

void mbarrier_probe(int arrivals) { mbarrier_probe_kernel<<<1, 32>>>(arrivals); }

void ldmatrix_probe() { ldmatrix_probe_kernel<<<1, 32>>>(); }

cudaError_t big_smem_probe(bool opt_in, float* ran) {
  constexpr int kBytes = 64 * 1024;
  if (opt_in) cudaFuncSetAttribute(big_smem_probe_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes);
  DeviceBuffer dran(sizeof(float));
  cudaMemset(dran.p, 0, sizeof(float));
  auto* kernel = big_smem_probe_kernel;
  kernel<<<1, 32, kBytes>>>(static_cast<float*>(dran.p));
  const cudaError_t err = cudaGetLastError();
  cudaMemcpy(ran, dran.p, sizeof(float), cudaMemcpyDeviceToHost);
  return err;
}

void overrun_probe() {
  DeviceBuffer p(10 * sizeof(float));
  overrun_probe_kernel<<<1, 1>>>(static_cast<float*>(p.p), 10);
}

}  // namespace emu_traps
