// Convolution dispatch (kernels/conv2d.h): argument checks, the algorithm/tile chooser, workspace
// layout, the stride phases of backward-data, and the launch sequences of the three passes (the
// small kernels around the implicit GEMMs live in conv2d_aux.cu).
#include <algorithm>
#include <map>
#include <mutex>
#include <numeric>
#include <tuple>
#include <type_traits>

#include "kernels/conv2d.h"
#include "kernels/conv2d_igemm.cuh"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {

using conv::FastDivmod;
using conv::kSpanPad;
using conv::Params;
using conv::Pass;
using conv::Tile;

std::size_t align256(std::size_t b) { return (b + 255) / 256 * 256; }
template <typename I>
I round_up(I x, I m) {
  return (x + m - 1) / m * m;
}
int vec_width(bool half_precision) { return half_precision ? 8 : 4; }

Pass to_pass(Conv2dPass p) {
  return p == Conv2dPass::forward ? Pass::fwd : p == Conv2dPass::backward_data ? Pass::dgrad : Pass::wgrad;
}

Params base_params(const Conv2dShape& sh) {
  Params p{};
  p.n = sh.n;
  p.h = sh.h;
  p.w = sh.w;
  p.c = sh.c;
  p.k = sh.k;
  p.r = sh.r;
  p.s = sh.s;
  p.p = sh.p();
  p.q = sh.q();
  p.pad_h = sh.pad_top;
  p.pad_w = sh.pad_left;
  p.str_h = sh.stride_h;
  p.str_w = sh.stride_w;
  p.dil_h = sh.dilation_h;
  p.dil_w = sh.dilation_w;
  p.sc = sh.s * sh.c;
  p.scp = round_up(p.sc, kSpanPad);
  p.kpad = round_up(sh.k, kSpanPad);
  p.step_r = sh.stride_h / std::gcd(sh.stride_h, sh.dilation_h);
  p.step_s = sh.stride_w / std::gcd(sh.stride_w, sh.dilation_w);
  p.div_pq = FastDivmod(p.p * p.q);
  p.div_q = FastDivmod(p.q);
  p.div_c = FastDivmod(p.c);
  p.div_hwp = FastDivmod(1);
  p.div_wp = FastDivmod(1);
  return p;
}

// ---- stride phases of backward-data ---------------------------------------------------------
// Input rows h = ph + i*stride meet the filter rows r = r0 + t*step (t < nr) at dy row
// p = i + off - t*dp.
struct Phase1d {
  int r0 = 0, nr = 0, step = 1, off = 0, dp = 0, extent = 0;  // extent: i count
};
Phase1d phase_1d(int ph, int pad, int stride, int dil, int taps, int in_extent) {
  Phase1d f;
  f.step = stride / std::gcd(stride, dil);
  f.dp = f.step * dil / stride;
  f.r0 = -1;
  for (int r = 0; r < f.step && r < taps; ++r)
    if (((ph + pad - r * dil) % stride + stride) % stride == 0) {
      f.r0 = r;
      break;
    }
  if (f.r0 < 0) {
    f.r0 = 0;
    f.nr = 0;
  } else {
    f.nr = (taps - 1 - f.r0) / f.step + 1;
    f.off = (ph + pad - f.r0 * dil) / stride;  // exact
  }
  f.extent = ph < in_extent ? (in_extent - ph + stride - 1) / stride : 0;
  return f;
}

// ---- chooser -----------------------------------------------------------------------------------

int blocks_per_sm(bool hp, Pass pass, Tile t, bool va, bool vb) {
  static std::mutex mu;
  static std::map<std::tuple<int, bool, int, int, bool, bool>, int> cache;
  int dev = 0;
  TILENET_CUDA_CHECK(cudaGetDevice(&dev));
  const auto key = std::make_tuple(dev, hp, static_cast<int>(pass), static_cast<int>(t), va, vb);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const int b = std::max(1, hp ? conv::f16::blocks_per_sm(pass, t, va, vb) : conv::f32::blocks_per_sm(pass, t, va, vb));
  cache[key] = b;
  return b;
}

conv::TileShape tile_shape(bool hp, Tile t) { return hp ? conv::f16::tile_shape(t) : conv::f32::tile_shape(t); }
bool tile_available(bool hp, Pass pass, Tile t, bool va, bool vb) {
  return hp ? conv::f16::tile_available(pass, t, va, vb) : conv::f32::tile_available(pass, t, va, vb);
}

struct Modes {
  bool va = true, vb = true;
};
Modes loader_modes(const Conv2dShape& sh, Pass pass, bool hp, const void* a_ptr, const void* b_ptr) {
  const int v = vec_width(hp);
  Modes m;
  switch (pass) {
    case Pass::fwd: m.va = sh.c % v == 0 && is_aligned(a_ptr, 16) && is_aligned(b_ptr, 16); break;
    case Pass::dgrad: m.va = sh.k % v == 0 && is_aligned(a_ptr, 16); break;
    case Pass::wgrad:
      m.va = sh.k % v == 0 && is_aligned(a_ptr, 16);
      m.vb = sh.c % v == 0 && is_aligned(b_ptr, 16);
      break;
  }
  return m;
}

// The GEMM extents the chooser plans with (dgrad: the largest phase).
void plan_dims(const Conv2dShape& sh, Pass pass, const Modes& md, long long& gm, long long& gn, long long& gk) {
  const int scp = round_up(sh.s * sh.c, kSpanPad);
  switch (pass) {
    case Pass::fwd:
      gm = sh.gemm_m();
      gn = sh.k;
      gk = md.va ? sh.gemm_k() : static_cast<long long>(sh.r) * scp;
      break;
    case Pass::dgrad:
      gm = static_cast<long long>(sh.n) * ((sh.h + sh.stride_h - 1) / sh.stride_h) * ((sh.w + sh.stride_w - 1) / sh.stride_w);
      gn = sh.c;
      gk = static_cast<long long>(round_up(sh.k, kSpanPad)) * ((sh.r + sh.stride_h - 1) / sh.stride_h) *
           ((sh.s + sh.stride_w - 1) / sh.stride_w);
      break;
    case Pass::wgrad:
      gm = sh.k;
      gn = md.vb ? sh.gemm_k() : static_cast<long long>(sh.r) * scp;
      gk = sh.gemm_m();
      break;
  }
}

// Backward-data with a tiny c (conv1: c = 3) as a dense GEMM plus a gather: the implicit GEMM
// would have n = c columns and re-read dy once per tap. dcol [n*p*q, ldcol] = dy . w (a 1x1
// forward implicit GEMM, fp32 accumulation, stored in the input dtype), then col2im. In fp16 each
// tap's product is rounded to f16 before col2im sums the taps in fp32: one rounding per tap instead
// of one per output (within the fp16 test tolerances; a tap beyond 65504 would read as inf).
constexpr std::int64_t kDcolBudget = std::int64_t{256} << 20;
bool tiny_c_dgrad(const Conv2dShape& sh, const Modes& md, Conv2dAlgo algo) {
  return sh.c <= 4 && md.va && (algo == Conv2dAlgo::Auto || algo == Conv2dAlgo::ImplicitGemm);
}
int dcol_ld(const Conv2dShape& sh) { return round_up(static_cast<int>(sh.gemm_k()), 8); }
int dcol_images(const Conv2dShape& sh, std::size_t elem) {
  const std::int64_t per = static_cast<std::int64_t>(sh.p()) * sh.q() * dcol_ld(sh) * static_cast<std::int64_t>(elem);
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(sh.n, kDcolBudget / per)));
}
std::size_t tiny_c_dgrad_workspace(const Conv2dShape& sh, std::size_t elem) {
  return align256(static_cast<std::size_t>(dcol_ld(sh)) * sh.k * elem) +
         align256(static_cast<std::size_t>(dcol_images(sh, elem)) * sh.p() * sh.q() * dcol_ld(sh) * elem);
}

struct Choice {
  Tile tile = Tile::S;
  int splits = 1;
};

// Split-K factor for backward-filter: the count that best fills whole waves of the device
// (tiles * splits blocks), at least 16 k-tiles a split, mildly preferring fewer splits (each adds
// a partial to write and reduce). Returns the fill efficiency through `eff`.
int wgrad_splits(long long tiles, long long slots, long long kt, double* eff) {
  const long long smax = std::max<long long>(1, std::min<long long>(64, kt / 16));
  int best = 1;
  double best_score = -1, best_eff = 0;
  for (long long sp = 1; sp <= smax; ++sp) {
    const long long blocks = tiles * sp;
    const long long waves = ceil_div(blocks, slots);
    const double e = static_cast<double>(blocks) / (static_cast<double>(waves) * slots);
    const double score = e / (1.0 + 0.01 * sp);
    if (score > best_score + 1e-9) {
      best_score = score;
      best = static_cast<int>(sp);
      best_eff = e;
    }
  }
  if (eff) *eff = best_eff;
  return best;
}

// Tile by estimated efficiency: the fraction of the launched tiles' work that is useful (padding
// and the last wave's idle slots both waste), times how fast each tile runs per useful flop
// (measured on an H100: the large tile is the fastest per flop when it fills the device).
Choice choose(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md, Conv2dAlgo algo) {
  long long gm, gn, gk;
  plan_dims(sh, pass, md, gm, gn, gk);
  Choice ch;
  auto evaluate = [&](Tile t, int* splits) {
    const conv::TileShape ts = tile_shape(hp, t);
    const double speed = t == Tile::L || t == Tile::W ? 1.0 : t == Tile::M ? 0.9 : t == Tile::S ? 0.75 : 0.5;
    const long long tiles = ceil_div<long long>(gm, ts.bm) * ceil_div<long long>(gn, ts.bn);
    const long long slots = static_cast<long long>(sm_count()) * blocks_per_sm(hp, pass, t, md.va, md.vb);
    const double useful = static_cast<double>(gm) * gn / (static_cast<double>(tiles) * ts.bm * ts.bn);
    double fill;
    int sp = 1;
    if (pass == Pass::wgrad) {
      sp = wgrad_splits(tiles, slots, ceil_div<long long>(gk, ts.bk), &fill);
    } else {
      const long long waves = ceil_div(tiles, slots);
      fill = static_cast<double>(tiles) / (static_cast<double>(waves) * slots);
    }
    if (splits) *splits = sp;
    return useful * fill * speed;
  };
  if (algo == Conv2dAlgo::ImplicitGemmLargeTile)
    ch.tile = Tile::L;
  else if (algo == Conv2dAlgo::ImplicitGemmSmallTile)
    ch.tile = Tile::S;
  else if (algo == Conv2dAlgo::ImplicitGemm8Warps)
    ch.tile = Tile::W;
  else if (pass != Pass::wgrad && gn <= 16)
    ch.tile = Tile::N;
  else {
    double best = -1;
    for (Tile t : {Tile::L, Tile::M, Tile::S}) {
      if (!tile_available(hp, pass, t, md.va, md.vb)) continue;
      const double score = evaluate(t, nullptr);
      if (score > best) {
        best = score;
        ch.tile = t;
      }
    }
  }
  if (!tile_available(hp, pass, ch.tile, md.va, md.vb)) ch.tile = Tile::S;
  if (pass == Pass::wgrad) evaluate(ch.tile, &ch.splits);
  return ch;
}

Conv2dAlgo resolve(Conv2dAlgo algo, const Conv2dShape& sh, Conv2dPass pass, bool hp) {
  return algo == Conv2dAlgo::Auto ? conv2d_choose_algo(sh, pass, hp) : algo;
}

// Workspace of the implicit GEMM for loader modes md.
std::size_t igemm_workspace(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md, Conv2dAlgo algo) {
  const std::size_t elem = hp ? 2 : 4;
  switch (pass) {
    case Pass::fwd:
      return md.va ? 0 : align256(static_cast<std::size_t>(sh.k) * sh.r * round_up(sh.s * sh.c, kSpanPad) * elem);
    case Pass::dgrad:
      if (tiny_c_dgrad(sh, md, algo)) return tiny_c_dgrad_workspace(sh, elem);
      return align256(static_cast<std::size_t>(sh.r) * sh.s * sh.c * round_up(sh.k, kSpanPad) * elem);
    case Pass::wgrad: {
      long long gm, gn, gk;
      plan_dims(sh, pass, md, gm, gn, gk);
      const Choice ch = choose(sh, pass, hp, md, algo);
      return align256(static_cast<std::size_t>(ch.splits) * round_up(gm * gn, 4LL) * 4);
    }
  }
  return 0;
}

// The kernels read packed filters from the workspace and write partials to it with 16-byte
// accesses (cp.async, float4), so it must be 16-byte aligned (any allocation is).
void check_workspace(std::size_t need, const void* ws, std::size_t have, const char* op, const Conv2dShape& sh) {
  TILENET_CHECK(have >= need, ValueError, op, ": workspace of ", have, " bytes given, ", need, " needed for ",
                sh.str(), " (ask conv2d_workspace_bytes)");
  TILENET_CHECK(need == 0 || (ws != nullptr && is_aligned(ws, 16)), ValueError, op, ": workspace ", ws,
                " must be 16-byte aligned");
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
  algo = resolve(algo, sh, Conv2dPass::forward, hp);
  Params p = base_params(sh);
  if (algo == Conv2dAlgo::Im2colGemm) {
    conv::im2col_forward(p, sh, x, w, bias, y, act, ws, ws_bytes, stream);
    return;
  }
  const Modes md = loader_modes(sh, Pass::fwd, hp, x, w);
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
  algo = resolve(algo, sh, Conv2dPass::backward_data, hp);
  Params p = base_params(sh);
  if (algo == Conv2dAlgo::Im2colGemm) {
    conv::im2col_backward_data(p, sh, dy, w, dx, ws, ws_bytes, stream);
    return;
  }
  const Modes md = loader_modes(sh, Pass::dgrad, hp, dy, w);
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
  algo = resolve(algo, sh, Conv2dPass::backward_filter, hp);
  Params p = base_params(sh);
  if (algo == Conv2dAlgo::Im2colGemm) {
    conv::im2col_backward_filter(p, sh, x, dy, dw, accumulate, ws, ws_bytes, stream);
    return;
  }
  const Modes md = loader_modes(sh, Pass::wgrad, hp, dy, x);
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
  p.split_stride = round_up(gm * gn, 4LL);  // k * r * s * c can pass 2^31 with padded spans
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
  (void)shape;
  (void)pass;
  (void)half_inputs;
  return Conv2dAlgo::ImplicitGemm;
}

std::size_t conv2d_workspace_bytes(const Conv2dShape& sh, Conv2dPass pass, bool half_inputs, Conv2dAlgo algo) {
  check_conv2d_shape(sh, "conv2d_workspace_bytes");
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
