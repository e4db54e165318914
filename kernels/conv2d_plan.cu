// Convolution planning (kernels/conv2d_plan.cuh): launch parameters from a shape, the stride
// phases of backward-data, loader modes, the tile and split-K chooser and the workspace layout.
// Host code; the launch sequences that use it are in conv2d.cu.
#include "kernels/conv2d_plan.cuh"

#include <algorithm>
#include <map>
#include <mutex>
#include <numeric>
#include <tuple>

#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels::conv {
namespace {

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
  const int b = std::max(1, hp ? f16::blocks_per_sm(pass, t, va, vb) : f32::blocks_per_sm(pass, t, va, vb));
  cache[key] = b;
  return b;
}

bool tile_available(bool hp, Pass pass, Tile t, bool va, bool vb) {
  return hp ? f16::tile_available(pass, t, va, vb) : f32::tile_available(pass, t, va, vb);
}

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

}  // namespace

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

TileShape tile_shape(bool hp, Tile t) { return hp ? conv::f16::tile_shape(t) : conv::f32::tile_shape(t); }

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
constexpr std::int64_t kDcolBudget = std::int64_t{256} << 20;  // bytes of dcol per chunk of images
bool tiny_c_dgrad(const Conv2dShape& sh, const Modes& md, Conv2dAlgo algo) {
  return sh.c <= 4 && md.va &&
         (algo == Conv2dAlgo::Auto || algo == Conv2dAlgo::ImplicitGemm || algo == Conv2dAlgo::ImplicitGemmWgmma);
}
int dcol_ld(const Conv2dShape& sh) { return round_up(static_cast<int>(sh.gemm_k()), 8); }
int dcol_images(const Conv2dShape& sh, std::size_t elem) {
  const std::int64_t per = static_cast<std::int64_t>(sh.p()) * sh.q() * dcol_ld(sh) * static_cast<std::int64_t>(elem);
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(sh.n, kDcolBudget / per)));
}
static std::size_t tiny_c_dgrad_workspace(const Conv2dShape& sh, std::size_t elem) {
  return align256(static_cast<std::size_t>(dcol_ld(sh)) * sh.k * elem) +
         align256(static_cast<std::size_t>(dcol_images(sh, elem)) * sh.p() * sh.q() * dcol_ld(sh) * elem);
}

// Per-flop speed of a tile relative to the large mma.sync tile when each fills the device: measured
// on an H100 for the mma.sync tiles (conv_dev.md). The Hopper tile's 1.5 is an estimate, not a
// measurement (wgmma's peak is about twice mma.sync's; the gathers and cp.async copies stay), to
// be replaced by the first H100 run of bench_conv.
static double tile_speed(Tile t) {
  switch (t) {
    case Tile::H: return 1.5;
    case Tile::L:
    case Tile::W: return 1.0;
    case Tile::M: return 0.9;
    case Tile::S: return 0.75;
    case Tile::N: return 0.5;
  }
  return 0.5;
}

// Estimated efficiency of tile t: the fraction of the launched tiles' work that is useful (padding
// and the last wave's idle slots both waste) times the tile's speed. Backward-filter: with the
// split-K count that fills the waves best (through `splits`).
static double tile_score(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md, Tile t, int* splits) {
  long long gm, gn, gk;
  plan_dims(sh, pass, md, gm, gn, gk);
  const TileShape ts = tile_shape(hp, t);
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
  return useful * fill * tile_speed(t);
}

Choice choose(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md, Conv2dAlgo algo) {
  long long gm, gn, gk;
  plan_dims(sh, pass, md, gm, gn, gk);
  Choice ch;
  if (algo == Conv2dAlgo::ImplicitGemmLargeTile)
    ch.tile = Tile::L;
  else if (algo == Conv2dAlgo::ImplicitGemmSmallTile)
    ch.tile = Tile::S;
  else if (algo == Conv2dAlgo::ImplicitGemm8Warps)
    ch.tile = Tile::W;
  else if (algo == Conv2dAlgo::ImplicitGemmWgmma && hp && tile_available(hp, pass, Tile::H, md.va, md.vb))
    ch.tile = Tile::H;
  else if (pass != Pass::wgrad && gn <= 16)
    ch.tile = Tile::N;
  else {
    double best = -1;
    for (Tile t : {Tile::L, Tile::M, Tile::S}) {
      if (!tile_available(hp, pass, t, md.va, md.vb)) continue;
      const double score = tile_score(sh, pass, hp, md, t, nullptr);
      if (score > best) {
        best = score;
        ch.tile = t;
      }
    }
  }
  if (!tile_available(hp, pass, ch.tile, md.va, md.vb)) ch.tile = Tile::S;
  if (pass == Pass::wgrad) tile_score(sh, pass, hp, md, ch.tile, &ch.splits);
  return ch;
}

bool auto_prefers_wgmma(const Conv2dShape& sh, Pass pass) {
  if (!conv_wgmma_passed_for_auto()) return false;
  const Modes md = aligned_loader_modes(sh, pass, true);
  if (tiny_c_dgrad(sh, md, Conv2dAlgo::ImplicitGemm)) return true;  // its 1x1 GEMM: many rows, k_out deep
  if (!tile_available(true, pass, Tile::H, md.va, md.vb)) return false;
  const Tile other = choose(sh, pass, true, md, Conv2dAlgo::ImplicitGemm).tile;
  return tile_score(sh, pass, true, md, Tile::H, nullptr) >= tile_score(sh, pass, true, md, other, nullptr);
}

Conv2dAlgo heuristic_algo(const Conv2dShape& sh, Conv2dPass pass, bool hp) {
  return hp && auto_prefers_wgmma(sh, to_pass(pass)) ? Conv2dAlgo::ImplicitGemmWgmma : Conv2dAlgo::ImplicitGemm;
}

std::vector<Conv2dAlgo> autotune_candidates(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md,
                                            Conv2dAlgo first) {
  std::vector<Conv2dAlgo> out;
  std::vector<std::pair<bool, Tile>> paths;  // (backward-data's tiny-c route, tile) of each taken
  const auto add = [&](Conv2dAlgo a) {
    if (std::find(out.begin(), out.end(), a) != out.end()) return;
    if (a == Conv2dAlgo::Im2colGemm) {
      out.push_back(a);
      return;
    }
    if (a == Conv2dAlgo::ImplicitGemmWgmma &&
        !(hp && conv_wgmma_passed_for_auto() && tile_available(hp, pass, Tile::H, md.va, md.vb)))
      return;
    Tile t = choose(sh, pass, hp, md, a).tile;
    if (!hp && t == Tile::W) t = Tile::L;  // fp32 runs its large tile for the 8-warp one
    const std::pair<bool, Tile> path{pass == Pass::dgrad && tiny_c_dgrad(sh, md, a), t};
    if (std::find(paths.begin(), paths.end(), path) != paths.end()) return;
    paths.push_back(path);
    out.push_back(a);
  };
  add(first);
  for (Conv2dAlgo a : conv2d_algos())  // im2col last: its workspace is the one most often not given
    if (a != Conv2dAlgo::Im2colGemm) add(a);
  add(Conv2dAlgo::Im2colGemm);
  return out;
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
      return align256(static_cast<std::size_t>(ch.splits) * wgrad_split_stride(gm, gn) * 4);
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

}  // namespace tilenet::kernels::conv
