// Convolution through an explicit column buffer and the tilenet GEMM (kernels/gemm.h): the
// baseline the implicit-GEMM kernels are measured against, and the simplest correct GPU path.
//   forward      col [rows, r*s*c] = im2col(x);      y  = col . w^T (+ bias, ReLU in the GEMM)
//   bwd data     dcol [rows, r*s*c] = dy . w (fp32); dx = col2im(dcol), as a gather: each input
//                pixel sums the dcol entries of the taps that read it (no atomics, deterministic)
//   bwd filter   col = im2col(x);                    dw (+)= dy^T . col, fp32 accumulation
// Rows are processed in chunks so the buffer stays under kBudget bytes; 1x1 stride-1 unpadded
// convolutions need no buffer at all (x and dx are already the GEMM operands).
#include <algorithm>
#include <type_traits>

#include "kernels/conv2d.h"
#include "kernels/conv2d_igemm.cuh"
#include "kernels/conv2d_plan.cuh"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels::conv {
namespace {

constexpr std::int64_t kBudget = std::int64_t{256} << 20;  // bytes of column buffer
constexpr int kThreads = 256;

bool is_pointwise(const Conv2dShape& sh) {
  return sh.r == 1 && sh.s == 1 && sh.stride_h == 1 && sh.stride_w == 1 && sh.pad_top == 0 && sh.pad_left == 0 &&
         sh.pad_bottom == 0 && sh.pad_right == 0;
}

// Rows [m0, m0 + rows) of the forward GEMM's A: one thread per (row, tap) copies c elements.
template <typename T>
__global__ void __launch_bounds__(kThreads) im2col_kernel(const T* __restrict__ x, T* __restrict__ col, Params p,
                                                         int m0, int rows, bool vec) {
  const long long total = static_cast<long long>(rows) * p.r * p.s;
  const int taps = p.r * p.s;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int row = static_cast<int>(idx / taps), tap = static_cast<int>(idx % taps);
    const int r = tap / p.s, s = tap % p.s;
    int n, pq, pp, qq;
    p.div_pq.divmod(m0 + row, n, pq);
    p.div_q.divmod(pq, pp, qq);
    const int h = pp * p.str_h - p.pad_h + r * p.dil_h, w = qq * p.str_w - p.pad_w + s * p.dil_w;
    T* dst = col + static_cast<long long>(row) * taps * p.c + static_cast<long long>(tap) * p.c;
    const bool in = static_cast<unsigned>(h) < static_cast<unsigned>(p.h) && static_cast<unsigned>(w) < static_cast<unsigned>(p.w);
    const T* src = x + ((static_cast<long long>(n) * p.h + h) * p.w + w) * p.c;
    if (vec) {
      for (int c = 0; c < p.c; c += Vec<T>::kN)
        *reinterpret_cast<uint4*>(dst + c) = in ? __ldg(reinterpret_cast<const uint4*>(src + c)) : make_uint4(0, 0, 0, 0);
    } else {
      for (int c = 0; c < p.c; ++c) dst[c] = in ? ldg_scalar(src + c) : zero_scalar<T>();
    }
  }
}

// dx for images [n0, n0 + imgs): each (pixel, channel) sums its taps' entries of dcol (fp32).
template <typename T>
__global__ void __launch_bounds__(kThreads) col2im_kernel(const float* __restrict__ dcol, T* __restrict__ dx, Params p,
                                                         int n0, int imgs) {
  const long long total = static_cast<long long>(imgs) * p.h * p.w * p.c;
  const long long kg = static_cast<long long>(p.r) * p.s * p.c;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(idx % p.c);
    const long long pix = idx / p.c;
    const int w = static_cast<int>(pix % p.w);
    const int h = static_cast<int>((pix / p.w) % p.h);
    const int n = static_cast<int>(pix / (static_cast<long long>(p.w) * p.h));
    float acc = 0.0f;
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
        acc += dcol[((static_cast<long long>(n) * p.p + pp) * p.q + qq) * kg + (r * p.s + s) * p.c + c];
      }
    }
    dx[(static_cast<long long>(n0) * p.h * p.w * p.c) + idx] = from_float<T>(acc);
  }
}

// dw = (accumulate ? dw : 0) + acc, converting to dw's type.
template <typename TW>
__global__ void __launch_bounds__(kThreads) finish_dw_kernel(const float* __restrict__ acc, TW* dw, long long n,
                                                            bool accumulate) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    dw[i] = from_float<TW>(acc[i] + (accumulate ? to_float(dw[i]) : 0.0f));
}

std::int64_t chunk_rows(const Conv2dShape& sh, std::size_t elem) {
  const std::int64_t row_bytes = sh.gemm_k() * static_cast<std::int64_t>(elem);
  return std::max<std::int64_t>(1, std::min<std::int64_t>(sh.gemm_m(), kBudget / row_bytes));
}
int chunk_images(const Conv2dShape& sh) {
  const std::int64_t img_bytes = static_cast<std::int64_t>(sh.p()) * sh.q() * sh.gemm_k() * 4;
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(sh.n, kBudget / img_bytes)));
}

}  // namespace

std::size_t im2col_workspace(const Conv2dShape& sh, Pass pass, bool half_inputs, bool half_dw) {
  const std::size_t elem = half_inputs ? 2 : 4;
  switch (pass) {
    case Pass::fwd:
      return is_pointwise(sh) ? 0 : align256(chunk_rows(sh, elem) * sh.gemm_k() * elem);
    case Pass::dgrad:
      return is_pointwise(sh) ? 0
                              : align256(static_cast<std::size_t>(chunk_images(sh)) * sh.p() * sh.q() * sh.gemm_k() * 4);
    case Pass::wgrad: {
      const std::size_t acc = half_dw ? align256(sh.w_elems() * 4) : 0;
      return acc + (is_pointwise(sh) ? 0 : align256(chunk_rows(sh, elem) * sh.gemm_k() * elem));
    }
  }
  return 0;
}

template <typename T>
void im2col_forward(const Params& p, const Conv2dShape& sh, const T* x, const T* w, const float* bias, T* y,
                    Activation act, void* ws, std::size_t ws_bytes, cudaStream_t stream) {
  check_workspace(im2col_workspace(sh, Pass::fwd, std::is_same_v<T, half>, false),
                  ws, ws_bytes, "conv2d_forward", sh);
  GemmParams gp;
  gp.n = sh.k;
  gp.k = sh.gemm_k();
  gp.trans_b = true;
  gp.bias = bias;
  gp.act = act;
  if (is_pointwise(sh)) {
    gp.m = sh.gemm_m();
    gemm(gp, x, w, y, stream);
    return;
  }
  const std::int64_t rows = chunk_rows(sh, sizeof(T)), M = sh.gemm_m();
  T* col = static_cast<T*>(ws);
  const bool vec = sh.c % Vec<T>::kN == 0 && is_aligned(x, 16);
  for (std::int64_t m0 = 0; m0 < M; m0 += rows) {
    const int n = static_cast<int>(std::min(rows, M - m0));
    im2col_kernel<<<grid_for(static_cast<std::int64_t>(n) * sh.r * sh.s, kThreads), kThreads, 0, stream>>>(
        x, col, p, static_cast<int>(m0), n, vec);
    check_launch("conv2d im2col", stream);
    gp.m = n;
    gemm(gp, col, w, y + m0 * sh.k, stream);
  }
}

template <typename T>
void im2col_backward_data(const Params& p, const Conv2dShape& sh, const T* dy, const T* w, T* dx, void* ws,
                          std::size_t ws_bytes, cudaStream_t stream) {
  check_workspace(im2col_workspace(sh, Pass::dgrad, std::is_same_v<T, half>, false),
                  ws, ws_bytes, "conv2d_backward_data", sh);
  GemmParams gp;
  gp.k = sh.k;
  if (is_pointwise(sh)) {
    gp.m = sh.gemm_m();
    gp.n = sh.c;
    gemm(gp, dy, w, dx, stream);
    return;
  }
  const int imgs = chunk_images(sh);
  const std::int64_t pq = static_cast<std::int64_t>(sh.p()) * sh.q();
  float* dcol = static_cast<float*>(ws);
  gp.n = sh.gemm_k();
  for (int n0 = 0; n0 < sh.n; n0 += imgs) {
    const int cnt = std::min(imgs, sh.n - n0);
    gp.m = cnt * pq;
    gemm(gp, dy + n0 * pq * sh.k, w, dcol, stream);
    col2im_kernel<<<grid_for(static_cast<std::int64_t>(cnt) * sh.h * sh.w * sh.c, kThreads), kThreads, 0, stream>>>(
        dcol, dx, p, n0, cnt);
    check_launch("conv2d col2im", stream);
  }
}

template <typename T, typename TW>
void im2col_backward_filter(const Params& p, const Conv2dShape& sh, const T* x, const T* dy, TW* dw, bool accumulate,
                            void* ws, std::size_t ws_bytes, cudaStream_t stream) {
  constexpr bool kHalfDw = std::is_same_v<TW, half>;
  check_workspace(im2col_workspace(sh, Pass::wgrad, std::is_same_v<T, half>, kHalfDw),
                  ws, ws_bytes, "conv2d_backward_filter", sh);
  float* acc;
  char* rest = static_cast<char*>(ws);
  if constexpr (kHalfDw) {
    acc = static_cast<float*>(ws);
    rest += align256(sh.w_elems() * 4);
  } else {
    acc = dw;
  }
  const bool acc_into = accumulate && !kHalfDw;  // the fp32 accumulator starts from dw only when it is dw
  GemmParams gp;
  gp.m = sh.k;
  gp.n = sh.gemm_k();
  gp.trans_a = true;
  gp.lda = sh.k;
  if (is_pointwise(sh)) {
    gp.k = sh.gemm_m();
    gp.beta = acc_into ? 1.0f : 0.0f;
    gemm(gp, dy, x, acc, stream);
  } else {
    const std::int64_t rows = chunk_rows(sh, sizeof(T)), M = sh.gemm_m();
    T* col = reinterpret_cast<T*>(rest);
    const bool vec = sh.c % Vec<T>::kN == 0 && is_aligned(x, 16);
    for (std::int64_t m0 = 0; m0 < M; m0 += rows) {
      const int n = static_cast<int>(std::min(rows, M - m0));
      im2col_kernel<<<grid_for(static_cast<std::int64_t>(n) * sh.r * sh.s, kThreads), kThreads, 0, stream>>>(
          x, col, p, static_cast<int>(m0), n, vec);
      check_launch("conv2d im2col", stream);
      gp.k = n;
      gp.beta = (m0 > 0 || acc_into) ? 1.0f : 0.0f;
      gemm(gp, dy + m0 * sh.k, col, acc, stream);
    }
  }
  if constexpr (kHalfDw) {
    finish_dw_kernel<<<grid_for(sh.w_elems(), kThreads), kThreads, 0, stream>>>(acc, dw, sh.w_elems(), accumulate);
    check_launch("conv2d backward-filter finish", stream);
  }
}

template void im2col_forward<float>(const Params&, const Conv2dShape&, const float*, const float*, const float*,
                                    float*, Activation, void*, std::size_t, cudaStream_t);
template void im2col_forward<half>(const Params&, const Conv2dShape&, const half*, const half*, const float*, half*,
                                   Activation, void*, std::size_t, cudaStream_t);
template void im2col_backward_data<float>(const Params&, const Conv2dShape&, const float*, const float*, float*,
                                          void*, std::size_t, cudaStream_t);
template void im2col_backward_data<half>(const Params&, const Conv2dShape&, const half*, const half*, half*, void*,
                                         std::size_t, cudaStream_t);
template void im2col_backward_filter<float, float>(const Params&, const Conv2dShape&, const float*, const float*,
                                                   float*, bool, void*, std::size_t, cudaStream_t);
template void im2col_backward_filter<half, float>(const Params&, const Conv2dShape&, const half*, const half*, float*,
                                                  bool, void*, std::size_t, cudaStream_t);
template void im2col_backward_filter<half, half>(const Params&, const Conv2dShape&, const half*, const half*, half*,
                                                 bool, void*, std::size_t, cudaStream_t);

}  // namespace tilenet::kernels::conv
