// Convolution planning, shared by the launch sequences in conv2d.cu (implemented in
// conv2d_plan.cu): kernel parameters from a shape, the stride phases of backward-data, which
// operand loaders the pointers allow, the tile and split-K choice, and the workspace each needs.
// Included by .cu files only (Params comes from conv2d_igemm.cuh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_igemm.cuh"

namespace tilenet::kernels::conv {

inline std::size_t align256(std::size_t b) { return (b + 255) / 256 * 256; }
template <typename I>
I round_up(I x, I m) {
  return (x + m - 1) / m * m;
}
// Elements in one 16-byte vector chunk.
inline int vec_width(bool half_precision) { return half_precision ? 8 : 4; }

inline Pass to_pass(Conv2dPass p) {
  return p == Conv2dPass::forward ? Pass::fwd : p == Conv2dPass::backward_data ? Pass::dgrad : Pass::wgrad;
}
// The chooser's rule (no autotuning): the Hopper tile where auto_prefers_wgmma, else ImplicitGemm.
Conv2dAlgo heuristic_algo(const Conv2dShape& sh, Conv2dPass pass, bool hp);
inline Conv2dAlgo resolve(Conv2dAlgo algo, const Conv2dShape& sh, Conv2dPass pass, bool hp) {
  return algo == Conv2dAlgo::Auto ? heuristic_algo(sh, pass, hp) : algo;
}

// The fields every launch of this shape shares.
Params base_params(const Conv2dShape& sh);

// Backward-data's stride phases: input rows h = ph + i*stride meet the filter rows
// r = r0 + t*step (t < nr) at dy row p = i + off - t*dp.
struct Phase1d {
  int r0 = 0, nr = 0, step = 1, off = 0, dp = 0, extent = 0;  // extent: i count
};
Phase1d phase_1d(int ph, int pad, int stride, int dil, int taps, int in_extent);

// Whether the A and B operands take the 16-byte vector loaders (else the element-wise ones).
struct Modes {
  bool va = true, vb = true;
};
Modes loader_modes(const Conv2dShape& sh, Pass pass, bool hp, const void* a_ptr, const void* b_ptr);
// The loader modes of cudaMalloc'd (256-byte aligned) operands: what the chooser plans for.
inline Modes aligned_loader_modes(const Conv2dShape& sh, Pass pass, bool hp) {
  const void* aligned = reinterpret_cast<const void*>(256);
  return loader_modes(sh, pass, hp, aligned, aligned);
}

// The GEMM extents the chooser plans with (dgrad: the largest phase).
void plan_dims(const Conv2dShape& sh, Pass pass, const Modes& md, long long& gm, long long& gn, long long& gk);
// Backward-filter split-K: floats between one split's fp32 partial dw and the next (a gm x gn
// block, rounded up to 16 bytes). The workspace size and the launch both use it. 64-bit: k * r *
// s * c can pass 2^31 with padded spans.
inline long long wgrad_split_stride(long long gm, long long gn) { return round_up(gm * gn, 4LL); }

// Backward-data with a tiny c (conv1: c = 3) as a dense GEMM plus a gather (conv2d.cu).
bool tiny_c_dgrad(const Conv2dShape& sh, const Modes& md, Conv2dAlgo algo);
int dcol_ld(const Conv2dShape& sh);                       // row length of the dcol buffer
int dcol_images(const Conv2dShape& sh, std::size_t elem);  // images per dcol chunk

struct Choice {
  Tile tile = Tile::S;
  int splits = 1;  // backward-filter split-K
};
Choice choose(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md, Conv2dAlgo algo);
// Auto on fp16: whether the Hopper tile should run this pass (the wgmma self-check has passed on
// this device, the operands of aligned tensors take it, and it scores at least as well as the
// mma.sync tile the chooser would take).
bool auto_prefers_wgmma(const Conv2dShape& sh, Pass pass);
TileShape tile_shape(bool hp, Tile t);
// Autotuning's candidates for these loader modes, `first` first, one per distinct kernel path
// (explicit algorithms that would run the same tile are dropped); the Hopper tile only once its
// gate has passed. Workspace is not considered here.
std::vector<Conv2dAlgo> autotune_candidates(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md,
                                            Conv2dAlgo first);

// Workspace of the implicit GEMM for loader modes md, and the check that a given one suffices for
// any algorithm (16-byte aligned: the kernels, im2col included, access it in 16-byte words).
std::size_t igemm_workspace(const Conv2dShape& sh, Pass pass, bool hp, const Modes& md, Conv2dAlgo algo);
void check_workspace(std::size_t need, const void* ws, std::size_t have, const char* op, const Conv2dShape& sh);

// Autotuning (conv2d_autotune.cu). autotune_on(): conv2d_autotune(), read without a lock.
// autotuned(): Auto's pick by measurement for a launch with these loader modes and `ws_have` bytes
// of workspace, searching with `trial` (one launch sequence of the pass with an explicit
// algorithm, writing nothing the caller keeps) on a miss; nullopt where no search can run (a
// stream capture) or nothing recorded fits the workspace: the launch takes heuristic_algo.
bool autotune_on();
// A non-owning reference to the trial callable (no allocation per launch, unlike std::function);
// valid while the callable lives.
class TrialRef {
 public:
  template <typename F>
  TrialRef(F& f) : obj_(&f), call_([](void* o, Conv2dAlgo a) { (*static_cast<F*>(o))(a); }) {}  // NOLINT
  void operator()(Conv2dAlgo a) const { call_(obj_, a); }

 private:
  void* obj_;
  void (*call_)(void*, Conv2dAlgo);
};
std::optional<Conv2dAlgo> autotuned(const Conv2dShape& sh, Conv2dPass pass, bool hp, const Modes& md,
                                    std::size_t ws_have, cudaStream_t stream, TrialRef trial);
// The recorded pick for operands of aligned tensors on the current device, if any.
std::optional<Conv2dAlgo> autotuned_pick(const Conv2dShape& sh, Conv2dPass pass, bool hp);

}  // namespace tilenet::kernels::conv
