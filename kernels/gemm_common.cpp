// Host-side pieces of kernels/gemm.h shared by every backend: algorithm names and lists, and the
// argument checks (with leading dimensions resolved) that gemm, gemm_ref and gemm_cpu all run.
#include <limits>

#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels {

const char* gemm_algo_name(GemmAlgo algo) {
  switch (algo) {
    case GemmAlgo::Auto: return "auto";
    case GemmAlgo::Naive: return "naive";
    case GemmAlgo::SmemTiled: return "smem_tiled";
    case GemmAlgo::RegisterBlocked: return "register_blocked";
    case GemmAlgo::WarpTiled: return "warp_tiled";
    case GemmAlgo::Wmma: return "wmma";
    case GemmAlgo::MmaSync: return "mma_sync";
    case GemmAlgo::Wgmma: return "wgmma";
  }
  return "?";
}

std::vector<GemmAlgo> gemm_algos(bool half_inputs) {
  if (!half_inputs)
    return {GemmAlgo::Naive, GemmAlgo::SmemTiled, GemmAlgo::RegisterBlocked, GemmAlgo::WarpTiled};
  std::vector<GemmAlgo> v{GemmAlgo::Naive, GemmAlgo::SmemTiled, GemmAlgo::Wmma};
  // mma.sync m16n8k16 needs sm_80; without a device every algorithm is listed.
  int dev = 0, major = 8;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    major = 8;
  }
  if (major >= 8) v.push_back(GemmAlgo::MmaSync);
  if (sm90a_kernels_available()) v.push_back(GemmAlgo::Wgmma);
  return v;
}

GemmParams resolve_gemm_params(const GemmParams& in, const void* a, const void* b, const void* c, const char* op) {
  GemmParams p = in;
  const auto dims = [&] {
    return detail::make_message(" (m=", p.m, " n=", p.n, " k=", p.k, " trans_a=", p.trans_a, " trans_b=", p.trans_b,
                                " lda=", in.lda, " ldb=", in.ldb, " ldc=", in.ldc, " batch=", p.batch, ")");
  };
  constexpr std::int64_t kMax = std::numeric_limits<int>::max();
  TILENET_CHECK(p.m >= 0 && p.n >= 0 && p.k >= 0, ValueError, op, ": negative size", dims());
  TILENET_CHECK(p.m <= kMax && p.n <= kMax && p.k <= kMax, ValueError, op, ": sizes must be below 2^31", dims());
  TILENET_CHECK(p.batch >= 0, ValueError, op, ": negative batch count", dims());
  TILENET_CHECK(p.lda >= 0 && p.ldb >= 0 && p.ldc >= 0, ValueError, op, ": negative leading dimension", dims());
  const std::int64_t wa = p.trans_a ? p.m : p.k, wb = p.trans_b ? p.k : p.n;
  if (p.lda == 0) p.lda = wa > 0 ? wa : 1;
  if (p.ldb == 0) p.ldb = wb > 0 ? wb : 1;
  if (p.ldc == 0) p.ldc = p.n > 0 ? p.n : 1;
  TILENET_CHECK(p.lda >= wa, ValueError, op, ": lda=", p.lda, " is below the width of ", p.trans_a ? "A (trans_a: A is k x m)" : "A (m x k)", ", ", wa, dims());
  TILENET_CHECK(p.ldb >= wb, ValueError, op, ": ldb=", p.ldb, " is below the width of ", p.trans_b ? "B (trans_b: B is n x k)" : "B (k x n)", ", ", wb, dims());
  TILENET_CHECK(p.ldc >= p.n, ValueError, op, ": ldc=", p.ldc, " is below n=", p.n, dims());
  TILENET_CHECK(p.stride_a >= 0 && p.stride_b >= 0 && p.stride_c >= 0, ValueError, op,
                ": negative batch stride (stride_a=", p.stride_a, " stride_b=", p.stride_b, " stride_c=", p.stride_c, ")", dims());
  if (p.batch == 0 || p.m == 0 || p.n == 0) return p;
  if (p.batch > 1) {
    const std::int64_t c_extent = (p.m - 1) * p.ldc + p.n;
    TILENET_CHECK(p.stride_c >= c_extent, ValueError, op, ": stride_c=", p.stride_c,
                  " lets batches of C overlap; expected at least (m-1)*ldc+n = ", c_extent, dims());
  }
  TILENET_CHECK(c != nullptr, ValueError, op, ": C is null", dims());
  if (p.k > 0) {
    TILENET_CHECK(a != nullptr, ValueError, op, ": A is null", dims());
    TILENET_CHECK(b != nullptr, ValueError, op, ": B is null", dims());
  }
  return p;
}

}  // namespace tilenet::kernels
