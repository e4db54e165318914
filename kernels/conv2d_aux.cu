// The small kernels around the implicit GEMMs (kernels/conv2d.cu runs them): filter packing for
// the small-c forward rows and for the stride phases of backward-data, the filter transpose and
// col2im gather of tiny-c backward-data, and the fixed-order split-K reduction of backward-filter.
// All memory-bound grid-stride loops over small tensors (filters) or one pass over dx.
#include "kernels/conv2d_igemm.cuh"
#include "kernels/launch.h"

namespace tilenet::kernels::conv {
namespace {

constexpr int kThreads = 256;

// Packs w [k][r][s][c] into the per-phase transposed layout: for phase (ph, pw) at its offset,
// [c][(tr*ns + ts)*kpad + kk] = w[kk][r0 + tr*step_r][s0 + ts*step_s][c] (0 for kk >= k).
// One thread per (r, s, c, kk < kpad); phase bookkeeping recomputed per element (tiny loops).
template <typename T>
__global__ void __launch_bounds__(kThreads) pack_dgrad_filter_kernel(const T* __restrict__ w, T* __restrict__ wt,
                                                                    Params p) {
  const long long total = static_cast<long long>(p.r) * p.s * p.c * p.kpad;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int kk = static_cast<int>(idx % p.kpad);
    long long rest = idx / p.kpad;
    const int c = static_cast<int>(rest % p.c);
    rest /= p.c;
    const int s = static_cast<int>(rest % p.s), r = static_cast<int>(rest / p.s);
    auto phase_of = [](int t, int dil, int pad, int stride) { return ((t * dil - pad) % stride + stride) % stride; };
    const int ph = phase_of(r, p.dil_h, p.pad_h, p.str_h), pw = phase_of(s, p.dil_w, p.pad_w, p.str_w);
    // Rows before r in its phase, rows in earlier phases, rows in r's phase (same for s).
    int tr = 0, before_r = 0, nr = 0, ts = 0, before_s = 0, ns = 0;
    for (int t = 0; t < p.r; ++t) {
      const int f = phase_of(t, p.dil_h, p.pad_h, p.str_h);
      before_r += f < ph;
      nr += f == ph;
      tr += f == ph && t < r;
    }
    for (int t = 0; t < p.s; ++t) {
      const int f = phase_of(t, p.dil_w, p.pad_w, p.str_w);
      before_s += f < pw;
      ns += f == pw;
      ts += f == pw && t < s;
    }
    const long long block = static_cast<long long>(p.c) * p.kpad * (static_cast<long long>(before_r) * p.s + nr * before_s);
    const long long ld = static_cast<long long>(nr) * ns * p.kpad;
    const T v = kk < p.k ? w[((static_cast<long long>(kk) * p.r + r) * p.s + s) * p.c + c] : T{};
    wt[block + c * ld + (tr * ns + ts) * p.kpad + kk] = v;
  }
}

// Small-c forward: w [k][r][s*c] -> [k][r][scp], zero tails.
template <typename T>
__global__ void __launch_bounds__(kThreads) pack_span_filter_kernel(const T* __restrict__ w, T* __restrict__ wp,
                                                                   Params p) {
  const long long total = static_cast<long long>(p.k) * p.r * p.scp;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(idx % p.scp);
    const long long kr = idx / p.scp;
    wp[idx] = j < p.sc ? w[kr * p.sc + j] : T{};
  }
}

// Tiny-c backward-data, step 1's B operand: wt[j][kk] = w[kk][j] for j < r*s*c, 0 up to ldcol.
template <typename T>
__global__ void __launch_bounds__(kThreads) transpose_filter_kernel(const T* __restrict__ w, T* __restrict__ wt,
                                                                   int k, int rsc, int ldcol) {
  const long long total = static_cast<long long>(ldcol) * k;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int kk = static_cast<int>(idx % k), j = static_cast<int>(idx / k);
    wt[idx] = j < rsc ? w[static_cast<long long>(kk) * rsc + j] : T{};
  }
}

// Tiny-c backward-data, step 2: dx[n0 + n, h, w, :] = sum over the taps that read (h, w) of
// dcol[(n, p, q), (r, s, :)] (rows ldcol apart), accumulated in fp32; a thread per input pixel
// visits only the taps of its stride phase. A gather: no atomics.
template <typename T, int kMaxC>
__global__ void __launch_bounds__(kThreads) col2im_gather_kernel(const T* __restrict__ dcol, T* __restrict__ dx,
                                                                Params p, int n0, int imgs, int ldcol) {
  const long long total = static_cast<long long>(imgs) * p.h * p.w;
  for (long long pix = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; pix < total;
       pix += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int w = static_cast<int>(pix % p.w);
    const int h = static_cast<int>((pix / p.w) % p.h);
    const int n = static_cast<int>(pix / (static_cast<long long>(p.w) * p.h));
    float acc[kMaxC];
#pragma unroll
    for (int c = 0; c < kMaxC; ++c) acc[c] = 0.0f;
    const int s_first = first_tap(w + p.pad_w, p.dil_w, p.str_w, p.step_s, p.s);
    for (int r = first_tap(h + p.pad_h, p.dil_h, p.str_h, p.step_r, p.r); r < p.r; r += p.step_r) {
      const int ph = h + p.pad_h - r * p.dil_h;
      if (ph < 0) break;
      const int pp = ph / p.str_h;
      if (pp >= p.p) continue;
      for (int s = s_first; s < p.s; s += p.step_s) {
        const int qw = w + p.pad_w - s * p.dil_w;
        if (qw < 0) break;
        const int qq = qw / p.str_w;
        if (qq >= p.q) continue;
        const T* src = dcol + ((static_cast<long long>(n) * p.p + pp) * p.q + qq) * ldcol + (r * p.s + s) * p.c;
#pragma unroll
        for (int c = 0; c < kMaxC; ++c)
          if (c < p.c) acc[c] += to_float(src[c]);
      }
    }
    T* dst = dx + (static_cast<long long>(n0) * p.h * p.w + pix) * p.c;
#pragma unroll
    for (int c = 0; c < kMaxC; ++c)
      if (c < p.c) dst[c] = from_float<T>(acc[c]);
  }
}

// dw[kout][r][s][c] = (accumulate ? dw : 0) + sum over splits (in order) of the partials at
// column (r*s + s)*c + c, or r*scp + s*c + c for row-span partials.
template <typename TW>
__global__ void __launch_bounds__(kThreads) reduce_wgrad_kernel(const float* __restrict__ part, TW* dw, Params p,
                                                               int splits, bool span, bool accumulate) {
  const long long rsc = static_cast<long long>(p.r) * p.s * p.c;
  const long long total = static_cast<long long>(p.k) * rsc;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int kout = static_cast<int>(idx / rsc);
    long long col = idx % rsc;
    if (span) {
      const int r = static_cast<int>(col / p.sc), j = static_cast<int>(col % p.sc);
      col = static_cast<long long>(r) * p.scp + j;
    }
    const float* src = part + static_cast<long long>(kout) * p.gemm_n + col;
    float acc = accumulate ? to_float(dw[idx]) : 0.0f;
    for (int z = 0; z < splits; ++z) acc += src[z * p.split_stride];
    dw[idx] = from_float<TW>(acc);
  }
}

}  // namespace

template <typename T>
void pack_dgrad_filter(const T* w, T* wt, const Params& p, cudaStream_t stream) {
  pack_dgrad_filter_kernel<<<grid_for(static_cast<long long>(p.r) * p.s * p.c * p.kpad, kThreads), kThreads, 0, stream>>>(
      w, wt, p);
  check_launch("conv2d pack transposed filter", stream);
}
template <typename T>
void pack_span_filter(const T* w, T* wp, const Params& p, cudaStream_t stream) {
  pack_span_filter_kernel<<<grid_for(static_cast<long long>(p.k) * p.r * p.scp, kThreads), kThreads, 0, stream>>>(w, wp,
                                                                                                                 p);
  check_launch("conv2d pack filter rows", stream);
}
template <typename T>
void transpose_filter(const T* w, T* wt, int k, int rsc, int ldcol, cudaStream_t stream) {
  transpose_filter_kernel<<<grid_for(static_cast<long long>(ldcol) * k, kThreads), kThreads, 0, stream>>>(w, wt, k, rsc,
                                                                                                         ldcol);
  check_launch("conv2d transpose filter", stream);
}
template <typename T>
void col2im_tiny_c(const T* dcol, T* dx, const Params& p, int n0, int imgs, int ldcol, cudaStream_t stream) {
  TILENET_CHECK(p.c <= 4, ValueError, "conv2d col2im_tiny_c: c = ", p.c, ", at most 4");
  col2im_gather_kernel<T, 4><<<grid_for(static_cast<long long>(imgs) * p.h * p.w, kThreads), kThreads, 0, stream>>>(
      dcol, dx, p, n0, imgs, ldcol);
  check_launch("conv2d col2im gather", stream);
}
template <typename TW>
void reduce_wgrad(const float* part, TW* dw, const Params& p, int splits, bool span, bool accumulate,
                  cudaStream_t stream) {
  reduce_wgrad_kernel<<<grid_for(static_cast<long long>(p.k) * p.r * p.s * p.c, kThreads), kThreads, 0, stream>>>(
      part, dw, p, splits, span, accumulate);
  check_launch("conv2d backward-filter split-K reduction", stream);
}

template void pack_dgrad_filter<float>(const float*, float*, const Params&, cudaStream_t);
template void pack_dgrad_filter<half>(const half*, half*, const Params&, cudaStream_t);
template void pack_span_filter<float>(const float*, float*, const Params&, cudaStream_t);
template void pack_span_filter<half>(const half*, half*, const Params&, cudaStream_t);
template void transpose_filter<float>(const float*, float*, int, int, int, cudaStream_t);
template void transpose_filter<half>(const half*, half*, int, int, int, cudaStream_t);
template void col2im_tiny_c<float>(const float*, float*, const Params&, int, int, int, cudaStream_t);
template void col2im_tiny_c<half>(const half*, half*, const Params&, int, int, int, cudaStream_t);
template void reduce_wgrad<float>(const float*, float*, const Params&, int, bool, bool, cudaStream_t);
template void reduce_wgrad<half>(const float*, half*, const Params&, int, bool, bool, cudaStream_t);

}  // namespace tilenet::kernels::conv
