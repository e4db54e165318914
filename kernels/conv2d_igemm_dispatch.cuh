// Host-side dispatch shared by the fp32 (SIMT) and fp16 (Tensor Core) implicit-GEMM kernels:
// from a runtime (tile, pass, loader modes) to the one kernel instance compiled for it. Included by
// those two .cu files after their kernels; what differs between them (element type, tile configs,
// which loader modes each tile is compiled for, the kernel template and its shared memory) comes in
// as a Family:
//
//   struct Family {
//     using Elem = float or half;
//     template <class Cfg> struct Loaders;  // AllLoaders or a narrower set, per tile
//     template <class Cfg, Pass P, class A, class B> static auto kernel();  // the __global__ instance
//     template <class Cfg, Pass P> static constexpr int smem_bytes();       // its dynamic shared memory
//     static constexpr const char* kLaunchName;                             // for check_launch
//     template <class Fn> static auto with_tile(Tile t, Fn&& fn);  // fn((Cfg*)nullptr) for t's config
//     static constexpr const char* kName;  // for the error message
//   };
#pragma once

#include <type_traits>

#include "kernels/conv2d_igemm_loaders.cuh"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels::conv {

// Which operand loaders a tile is compiled for. The vector modes (16-byte chunks) always are;
// these say whether the slower fallbacks are too. Every combination is a kernel to compile, so
// the large tiles leave out modes the chooser never gives them.
struct AllLoaders {
  static constexpr bool fwd_span = true;     // forward, c not a multiple of the vector width
  static constexpr bool dg_scalar = true;    // backward-data, k_out not a multiple
  static constexpr bool wgrad = true;        // backward-filter at all
  static constexpr bool wg_a_scalar = true;  // backward-filter, k_out not a multiple
  static constexpr bool wg_b_span = true;    // backward-filter, c not a multiple
};

// The narrower sets the tiles use: the large tiles only ever get aligned operands from the
// chooser (vector loaders, backward-filter included); the medium tile also takes forward and
// backward-filter operands whose c is not a multiple of the vector width.
struct VectorLoaders {
  static constexpr bool fwd_span = false, dg_scalar = false, wgrad = true, wg_a_scalar = false, wg_b_span = false;
};
struct VectorAndSpanLoaders {
  static constexpr bool fwd_span = true, dg_scalar = false, wgrad = true, wg_a_scalar = false, wg_b_span = true;
};

template <class L>
constexpr bool loaders_available(Pass pass, bool va, bool vb) {
  switch (pass) {
    case Pass::fwd: return va || L::fwd_span;
    case Pass::dgrad: return va || L::dg_scalar;
    case Pass::wgrad: return L::wgrad && ((va && vb) || (va && L::wg_b_span) || L::wg_a_scalar);
  }
  return false;
}

template <class Family>
class IgemmDispatch {
  using T = typename Family::Elem;
  template <class Cfg>
  using FwdVec = FwdA<T, Cfg::BM, Cfg::BK, Cfg::kThreads, true>;
  template <class Cfg>
  using FwdSpan = FwdA<T, Cfg::BM, Cfg::BK, Cfg::kThreads, false>;
  template <class Cfg>
  using DB = DenseB<T, Cfg::BN, Cfg::BK, Cfg::kThreads>;
  template <class Cfg, bool V>
  using DgA = DgradA<T, Cfg::BM, Cfg::BK, Cfg::kThreads, V>;
  template <class Cfg, bool V>
  using WgA = WgradA<T, Cfg::BM, Cfg::BK, Cfg::kThreads, V>;
  template <class Cfg, bool V>
  using WgB = WgradB<T, Cfg::BN, Cfg::BK, Cfg::kThreads, V>;

  // Runs the kernel for (pass, modes) on tile Cfg, or with `blocks` set stores its occupancy
  // instead; false when that combination is not compiled.
  template <class Cfg>
  static bool run(Pass pass, bool va, bool vb, const Params* p, int splits, cudaStream_t st, int* blocks) {
    using L = typename Family::template Loaders<Cfg>;
    auto go = [&](auto kpass, auto* a_tag, auto* b_tag) {
      constexpr Pass kP = decltype(kpass)::value;
      using A = std::remove_pointer_t<decltype(a_tag)>;
      using B = std::remove_pointer_t<decltype(b_tag)>;
      auto* kernel = Family::template kernel<Cfg, kP, A, B>();
      constexpr int kBytes = Family::template smem_bytes<Cfg, kP>();
      // Above 48 KB the limit is raised per kernel and device, before the launch and before the
      // occupancy query alike (nothing happens below).
      allow_dynamic_smem(kernel, kBytes);
      if (blocks) {
        TILENET_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, kernel, Cfg::kThreads, kBytes));
      } else {
        const dim3 grid(ceil_div(p->gemm_m, Cfg::BM), ceil_div(p->gemm_n, Cfg::BN), splits);
        kernel<<<grid, Cfg::kThreads, kBytes, st>>>(*p);
        check_launch(Family::kLaunchName, st);
      }
      return true;
    };
    using F = std::integral_constant<Pass, Pass::fwd>;
    using D = std::integral_constant<Pass, Pass::dgrad>;
    using W = std::integral_constant<Pass, Pass::wgrad>;
    switch (pass) {
      case Pass::fwd:
        if (va) return go(F{}, (FwdVec<Cfg>*)nullptr, (DB<Cfg>*)nullptr);
        if constexpr (L::fwd_span) return go(F{}, (FwdSpan<Cfg>*)nullptr, (DB<Cfg>*)nullptr);
        return false;
      case Pass::dgrad:
        if (va) return go(D{}, (DgA<Cfg, true>*)nullptr, (DB<Cfg>*)nullptr);
        if constexpr (L::dg_scalar) return go(D{}, (DgA<Cfg, false>*)nullptr, (DB<Cfg>*)nullptr);
        return false;
      case Pass::wgrad:
        if constexpr (L::wgrad) {
          if (va && vb) return go(W{}, (WgA<Cfg, true>*)nullptr, (WgB<Cfg, true>*)nullptr);
          if constexpr (L::wg_b_span)
            if (va) return go(W{}, (WgA<Cfg, true>*)nullptr, (WgB<Cfg, false>*)nullptr);
          if constexpr (L::wg_a_scalar) {
            if (vb) return go(W{}, (WgA<Cfg, false>*)nullptr, (WgB<Cfg, true>*)nullptr);
            return go(W{}, (WgA<Cfg, false>*)nullptr, (WgB<Cfg, false>*)nullptr);
          }
        }
        return false;
    }
    return false;
  }

  static bool run_tile(Tile t, Pass pass, bool va, bool vb, const Params* p, int splits, cudaStream_t st,
                       int* blocks) {
    return Family::with_tile(t, [&](auto* cfg) {
      return run<std::remove_pointer_t<decltype(cfg)>>(pass, va, vb, p, splits, st, blocks);
    });
  }

 public:
  static TileShape tile_shape(Tile t) {
    return Family::with_tile(t, [](auto* cfg) {
      using Cfg = std::remove_pointer_t<decltype(cfg)>;
      return TileShape{Cfg::BM, Cfg::BN, Cfg::BK};
    });
  }

  static bool tile_available(Pass pass, Tile t, bool va, bool vb) {
    return Family::with_tile(t, [&](auto* cfg) {
      using Cfg = std::remove_pointer_t<decltype(cfg)>;
      return loaders_available<typename Family::template Loaders<Cfg>>(pass, va, vb);
    });
  }

  static int blocks_per_sm(Pass pass, Tile t, bool va, bool vb) {
    int blocks = 0;
    if (!run_tile(t, pass, va, vb, nullptr, 1, nullptr, &blocks)) return 0;
    return blocks;
  }

  // Launches on tile t, or on the small tile when t is not compiled for these loader modes.
  static Tile launch(Pass pass, Tile t, bool va, bool vb, const Params& p, int splits, cudaStream_t stream) {
    if (!tile_available(pass, t, va, vb)) t = Tile::S;
    TILENET_CHECK(run_tile(t, pass, va, vb, &p, splits, stream, nullptr), Error, "conv2d: no ", Family::kName,
                  " implicit-GEMM kernel for this pass and loader mode");
    return t;
  }
};

}  // namespace tilenet::kernels::conv
