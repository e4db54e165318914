// Convolution dispatch (kernels/conv2d.h): argument checks and the launch sequences of the three
// passes. The chooser, workspace layout and stride phases are in conv2d_plan.cu; the small kernels
// around the implicit GEMMs in conv2d_aux.cu.
#include <algorithm>
#include <optional>
#include <type_traits>

#include "kernels/conv2d.h"
#include "kernels/conv2d_igemm.cuh"
#include "kernels/conv2d_plan.cuh"
#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {

using conv::align256;
using conv::base_params;
using conv::check_workspace;
using conv::Choice;
using conv::choose;
using conv::dcol_images;
using conv::dcol_ld;
using conv::FastDivmod;
using conv::igemm_workspace;
using conv::loader_modes;
using conv::Modes;
using conv::Params;
using conv::Pass;
using conv::Phase1d;
using conv::phase_1d;
using conv::plan_dims;
using conv::resolve;
using conv::round_up;
using conv::Tile;
using conv::tile_shape;
using conv::tiny_c_dgrad;
using conv::to_pass;
using conv::vec_width;

// Auto's pick for a launch on `stream` whose operands take the loader modes md: on Hopper the first
// fp16 one settles the wgmma tile's gate (its self-check, outside captures) so that the choice
// knows the verdict; with autotuning on, the measured pick (a miss searches with `trial`, the
// pass run with an explicit algorithm), else the chooser's rule.
template <typename Trial>
Conv2dAlgo resolve_launch(Conv2dAlgo algo, const Conv2dShape& sh, Conv2dPass pass, bool hp, const Modes& md,
                          const void* ws, std::size_t ws_bytes, cudaStream_t stream, Trial&& trial) {
  if (algo != Conv2dAlgo::Auto) return algo;
  if (hp) conv_settle_auto(stream);
  if (conv::autotune_on())
    if (auto a = conv::autotuned(sh, pass, hp, md, ws ? ws_bytes : 0, stream, conv::TrialRef(trial)))
      return *a;
  return resolve(algo, sh, pass, hp);
}

template <typename T>
void launch_igemm(Pass pass, Tile tile, const Modes& md, const Params& p, int splits, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, half>)
    conv::launch_igemm_f16(pass, tile, md.va, md.vb, p, splits, stream);
  else
    conv::launch_igemm_f32(pass, tile, md.va, md.vb, p, splits, stream);
}

// Pair (fp16: 2 elements) or quad (fp32: 4) stores of output rows of `ld` elements at `out`.
template <typename T>
int pair_ok(long long ld, const void* out) {
  constexpr int v = std::is_same_v<T, half> ? 2 : 4;
  return ld % v == 0 && is_aligned(out, v * sizeof(T));
}

void check_ptrs(const char* op, const void* a, const char* an, const void* b, const char* bn, const void* c,
                const char* cn) {
  TILENET_CHECK(a && b && c, ValueError, op, ": null pointer (", an, "=", a, ", ", bn, "=", b, ", ", cn, "=", c, ")");
}

// ---- the three passes --------------------------------------------------------------------------

template <typename T>
void forward_t(const Conv2dShape& sh, const T* x, const T* w, const float* bias, T* y, Activation act, void* ws,
               std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  const char* op = "conv2d_forward";
  check_conv2d_shape(sh, op);
  check_ptrs(op, x, "x", w, "w", y, "y");
  constexpr bool hp = std::is_same_v<T, half>;
  const Modes md = loader_modes(sh, Pass::fwd, hp, x, w);
  algo = resolve_launch(algo, sh, Conv2dPass::forward, hp, md, ws, ws_bytes, stream,
                        [&](Conv2dAlgo a) { forward_t(sh, x, w, bias, y, act, ws, ws_bytes, stream, a); });
  Params p = base_params(sh);
  if (algo == Conv2dAlgo::Im2colGemm) {
    conv::im2col_forward(p, sh, x, w, bias, y, act, ws, ws_bytes, stream);
    return;
  }
  check_workspace(igemm_workspace(sh, Pass::fwd, hp, md, algo), ws, ws_bytes, op, sh);
  p.a = x;
  p.out = y;
  p.bias = bias;
  p.relu = act == Activation::relu;
  p.pair_store = pair_ok<T>(sh.k, y);
  p.gemm_m = static_cast<int>(sh.gemm_m());
  p.gemm_n = sh.k;
  if (md.va) {
    p.b = w;
    p.ldb = p.gemm_k = static_cast<int>(sh.gemm_k());
  } else {
    T* wp = static_cast<T*>(ws);
    conv::pack_span_filter(w, wp, p, stream);
    p.b = wp;
    p.ldb = p.gemm_k = sh.r * p.scp;
  }
  const Choice ch = choose(sh, Pass::fwd, hp, md, algo);
  launch_igemm<T>(Pass::fwd, ch.tile, md, p, 1, stream);
}

template <typename T>
void backward_data_t(const Conv2dShape& sh, const T* dy, const T* w, T* dx, void* ws, std::size_t ws_bytes,
                     cudaStream_t stream, Conv2dAlgo algo) {
  const char* op = "conv2d_backward_data";
  check_conv2d_shape(sh, op);
  check_ptrs(op, dy, "dy", w, "w", dx, "dx");
  constexpr bool hp = std::is_same_v<T, half>;
  const Modes md = loader_modes(sh, Pass::dgrad, hp, dy, w);
  algo = resolve_launch(algo, sh, Conv2dPass::backward_data, hp, md, ws, ws_bytes, stream,
                        [&](Conv2dAlgo a) { backward_data_t(sh, dy, w, dx, ws, ws_bytes, stream, a); });
  Params p = base_params(sh);
  if (algo == Conv2dAlgo::Im2colGemm) {
    conv::im2col_backward_data(p, sh, dy, w, dx, ws, ws_bytes, stream);
    return;
  }
  check_workspace(igemm_workspace(sh, Pass::dgrad, hp, md, algo), ws, ws_bytes, op, sh);
  if (tiny_c_dgrad(sh, md, algo)) {
    const int ld = dcol_ld(sh), rsc = static_cast<int>(sh.gemm_k());
    T* wt = static_cast<T*>(ws);
    T* dcol = reinterpret_cast<T*>(static_cast<char*>(ws) + align256(static_cast<std::size_t>(ld) * sh.k * sizeof(T)));
    conv::transpose_filter(w, wt, sh.k, rsc, ld, stream);
    const int imgs = dcol_images(sh, sizeof(T));
    const long long pq = static_cast<long long>(sh.p()) * sh.q();
    for (int n0 = 0; n0 < sh.n; n0 += imgs) {
      const int cnt = std::min(imgs, sh.n - n0);
      Conv2dShape g;  // the 1x1 "convolution" dcol = dy . wt^T
      g.n = static_cast<int>(cnt * pq);
      g.h = g.w = g.r = g.s = 1;
      g.c = sh.k;
      g.k = ld;
      Params q = base_params(g);
      q.a = dy + n0 * pq * sh.k;
      q.b = wt;
      q.ldb = q.gemm_k = sh.k;
      q.gemm_m = g.n;
      q.gemm_n = ld;
      q.out = dcol;
      q.pair_store = pair_ok<T>(ld, dcol);
      const Modes gm = loader_modes(g, Pass::fwd, hp, q.a, wt);
      launch_igemm<T>(Pass::fwd, choose(g, Pass::fwd, hp, gm, algo).tile, gm, q, 1, stream);
      conv::col2im_tiny_c(dcol, dx, p, n0, cnt, ld, stream);
    }
    return;
  }
  T* wt = static_cast<T*>(ws);
  conv::pack_dgrad_filter(w, wt, p, stream);
  const Choice ch = choose(sh, Pass::dgrad, hp, md, algo);
  p.a = dy;
  p.out = dx;
  p.pair_store = pair_ok<T>(sh.c, dx);
  p.gemm_n = sh.c;
  long long offset = 0;
  for (int ph = 0; ph < sh.stride_h; ++ph) {
    const Phase1d fh = phase_1d(ph, sh.pad_top, sh.stride_h, sh.dilation_h, sh.r, sh.h);
    for (int pw = 0; pw < sh.stride_w; ++pw) {
      const Phase1d fw = phase_1d(pw, sh.pad_left, sh.stride_w, sh.dilation_w, sh.s, sh.w);
      const long long taps = static_cast<long long>(fh.nr) * fw.nr;
      Params q = p;
      q.ph = ph;
      q.pw = pw;
      q.hp = fh.extent;
      q.wp = fw.extent;
      q.ns = std::max(fw.nr, 1);
      q.off_r = fh.off;
      q.off_s = fw.off;
      q.dpr = fh.dp;
      q.dps = fw.dp;
      q.gemm_m = sh.n * fh.extent * fw.extent;
      q.gemm_k = static_cast<int>(taps * p.kpad);
      q.ldb = q.gemm_k;
      q.b = wt + offset;
      q.div_hwp = FastDivmod(std::max(1, fh.extent * fw.extent));
      q.div_wp = FastDivmod(std::max(1, fw.extent));
      offset += taps * p.kpad * sh.c;
      if (q.gemm_m > 0) launch_igemm<T>(Pass::dgrad, ch.tile, md, q, 1, stream);
    }
  }
}

template <typename T, typename TW>
void backward_filter_t(const Conv2dShape& sh, const T* x, const T* dy, TW* dw, bool accumulate, void* ws,
                       std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  const char* op = "conv2d_backward_filter";
  check_conv2d_shape(sh, op);
  check_ptrs(op, x, "x", dy, "dy", dw, "dw");
  constexpr bool hp = std::is_same_v<T, half>;
  const Modes md = loader_modes(sh, Pass::wgrad, hp, dy, x);
  // An accumulating pass times its trials into a scratch dw (allocated at the first trial), so
  // that dw keeps what it holds.
  std::optional<DeviceAllocation> scratch;
  algo = resolve_launch(algo, sh, Conv2dPass::backward_filter, hp, md, ws, ws_bytes, stream, [&](Conv2dAlgo a) {
    if (accumulate && !scratch) scratch.emplace(sh.w_elems() * sizeof(TW));
    TW* out = accumulate ? static_cast<TW*>(scratch->p) : dw;
    backward_filter_t(sh, x, dy, out, false, ws, ws_bytes, stream, a);
  });
  Params p = base_params(sh);
  if (algo == Conv2dAlgo::Im2colGemm) {
    conv::im2col_backward_filter(p, sh, x, dy, dw, accumulate, ws, ws_bytes, stream);
    return;
  }
  check_workspace(igemm_workspace(sh, Pass::wgrad, hp, md, algo), ws, ws_bytes, op, sh);
  const Choice ch = choose(sh, Pass::wgrad, hp, md, algo);
  long long gm, gn, gk;
  plan_dims(sh, Pass::wgrad, md, gm, gn, gk);
  p.a = dy;
  p.b = x;
  p.out = ws;
  p.gemm_m = sh.k;
  p.gemm_n = static_cast<int>(gn);
  p.gemm_k = static_cast<int>(gk);
  p.split_stride = conv::wgrad_split_stride(gm, gn);
  p.pair_store = hp ? gn % 2 == 0 : gn % 4 == 0;
  const int bk = tile_shape(hp, ch.tile).bk;
  const int kt = static_cast<int>(ceil_div<long long>(gk, bk));
  p.k_tiles_per_split = ceil_div(kt, ch.splits);
  const int splits = ceil_div(kt, p.k_tiles_per_split);  // no empty splits
  launch_igemm<T>(Pass::wgrad, ch.tile, md, p, splits, stream);
  conv::reduce_wgrad(static_cast<const float*>(ws), dw, p, splits, !md.vb, accumulate, stream);
}

}  // namespace

Conv2dAlgo conv2d_choose_algo(const Conv2dShape& shape, Conv2dPass pass, bool half_inputs) {
  if (conv::autotune_on())
    if (auto a = conv::autotuned_pick(shape, pass, half_inputs)) return *a;
  return conv::heuristic_algo(shape, pass, half_inputs);
}

std::size_t conv2d_workspace_bytes(const Conv2dShape& sh, Conv2dPass pass, bool half_inputs, Conv2dAlgo algo) {
  check_conv2d_shape(sh, "conv2d_workspace_bytes");
  // Auto with autotuning: whichever implicit-GEMM candidate the search keeps.
  if (algo == Conv2dAlgo::Auto && conv::autotune_on()) {
    std::size_t bytes = 0;
    for (Conv2dAlgo a : conv2d_algos())
      if (a != Conv2dAlgo::Im2colGemm) bytes = std::max(bytes, conv2d_workspace_bytes(sh, pass, half_inputs, a));
    return bytes;
  }
  // Auto on Hopper: the wgmma self-check may settle between this query and the launch and change
  // the pick (and backward-filter's split count): cover both.
  if (algo == Conv2dAlgo::Auto && half_inputs && sm90a_kernels_available())
    return std::max(conv2d_workspace_bytes(sh, pass, true, Conv2dAlgo::ImplicitGemm),
                    conv2d_workspace_bytes(sh, pass, true, Conv2dAlgo::ImplicitGemmWgmma));
  algo = resolve(algo, sh, pass, half_inputs);
  const Pass ps = to_pass(pass);
  if (algo == Conv2dAlgo::Im2colGemm) return conv::im2col_workspace(sh, ps, half_inputs, half_inputs);
  // The launch may find unaligned pointers and take the element-wise loaders: cover both.
  std::size_t bytes = 0;
  for (bool va : {true, false})
    for (bool vb : {true, false}) {
      Modes md;
      md.va = va;
      md.vb = vb;
      const int v = vec_width(half_inputs);
      if (ps == Pass::fwd && va && sh.c % v) continue;
      if (ps != Pass::fwd && va && sh.k % v) continue;
      if (ps == Pass::wgrad && vb && sh.c % v) continue;
      bytes = std::max(bytes, igemm_workspace(sh, ps, half_inputs, md, algo));
    }
  return bytes;
}

void conv2d_forward(const Conv2dShape& sh, const float* x, const float* w, const float* bias, float* y, Activation act,
                    void* ws, std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  forward_t(sh, x, w, bias, y, act, ws, ws_bytes, stream, algo);
}
void conv2d_forward(const Conv2dShape& sh, const half* x, const half* w, const float* bias, half* y, Activation act,
                    void* ws, std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  forward_t(sh, x, w, bias, y, act, ws, ws_bytes, stream, algo);
}
void conv2d_backward_data(const Conv2dShape& sh, const float* dy, const float* w, float* dx, void* ws,
                          std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  backward_data_t(sh, dy, w, dx, ws, ws_bytes, stream, algo);
}
void conv2d_backward_data(const Conv2dShape& sh, const half* dy, const half* w, half* dx, void* ws,
                          std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  backward_data_t(sh, dy, w, dx, ws, ws_bytes, stream, algo);
}
void conv2d_backward_filter(const Conv2dShape& sh, const float* x, const float* dy, float* dw, bool accumulate,
                            void* ws, std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  backward_filter_t(sh, x, dy, dw, accumulate, ws, ws_bytes, stream, algo);
}
void conv2d_backward_filter(const Conv2dShape& sh, const half* x, const half* dy, float* dw, bool accumulate,
                            void* ws, std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  backward_filter_t(sh, x, dy, dw, accumulate, ws, ws_bytes, stream, algo);
}
void conv2d_backward_filter(const Conv2dShape& sh, const half* x, const half* dy, half* dw, bool accumulate,
                            void* ws, std::size_t ws_bytes, cudaStream_t stream, Conv2dAlgo algo) {
  backward_filter_t(sh, x, dy, dw, accumulate, ws, ws_bytes, stream, algo);
}

}  // namespace tilenet::kernels
