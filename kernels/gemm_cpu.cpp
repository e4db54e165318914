// CPU backend of kernels/gemm.h (Tensor ops on the host, the CPU training paths).
// Goto-style blocking: B is packed once per column chunk into NR-wide strips (all of K), each task
// (MC rows x NC columns of C) packs its A block into MR-tall strips per KC slice and runs a 6x8
// register-blocked micro-kernel (GCC/Clang vector extensions: SSE on x86-64, NEON on arm64) into
// a float accumulator tile; the epilogue (alpha, beta, bias, ReLU, rounding to the output type)
// runs once per tile. Transposes and fp16 inputs are absorbed by the packing, so one float
// micro-kernel serves every variant. Tasks run on tilenet::parallel_for.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/gemm_internal.h"
#include "tensor/parallel.h"

namespace tilenet::kernels {
namespace {

constexpr int MR = 6, NR = 8;
constexpr std::int64_t KC = 256, MC = 96, NC = 256;
// Floats of packed B per column chunk (8 MB).
constexpr std::int64_t kPackedBBudget = std::int64_t{2} << 20;

typedef float v4f __attribute__((vector_size(16)));

inline v4f load4(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, v4f v) { std::memcpy(p, &v, sizeof v); }

inline float to_f(float v) { return v; }
inline float to_f(half v) { return half_to_float(v); }
template <typename T>
inline T from_f(float v);
template <>
inline float from_f<float>(float v) { return v; }
template <>
inline half from_f<half>(float v) { return float_to_half(v); }

// C[0:mr, 0:nr] (+)= Apanel (kc x MR, p-major) * Bpanel (kc x NR, p-major). Panels are zero-padded
// to MR/NR, so the full tile is always computed and only the valid part is written.
void micro_kernel(std::int64_t kc, const float* __restrict A, const float* __restrict B, float* __restrict C,
                  std::int64_t ldc, int mr, int nr, bool first) {
  v4f c00{}, c01{}, c10{}, c11{}, c20{}, c21{}, c30{}, c31{}, c40{}, c41{}, c50{}, c51{};
  for (std::int64_t p = 0; p < kc; ++p) {
    const v4f b0 = load4(B), b1 = load4(B + 4);
    v4f a;
#define TILENET_ROW(r)     \
  a = v4f{} + A[r];        \
  c##r##0 += a * b0;       \
  c##r##1 += a * b1;
    TILENET_ROW(0) TILENET_ROW(1) TILENET_ROW(2) TILENET_ROW(3) TILENET_ROW(4) TILENET_ROW(5)
#undef TILENET_ROW
    A += MR;
    B += NR;
  }
  const v4f rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; ++r) {
      float* cr = C + r * ldc;
      if (first) {
        store4(cr, rows[r][0]);
        store4(cr + 4, rows[r][1]);
      } else {
        store4(cr, load4(cr) + rows[r][0]);
        store4(cr + 4, load4(cr + 4) + rows[r][1]);
      }
    }
    return;
  }
  float t[MR][NR];
  for (int r = 0; r < MR; ++r) {
    store4(t[r], rows[r][0]);
    store4(t[r] + 4, rows[r][1]);
  }
  for (int r = 0; r < mr; ++r)
    for (int j = 0; j < nr; ++j) C[r * ldc + j] = first ? t[r][j] : C[r * ldc + j] + t[r][j];
}

// Packs rows [i0, i0+mc) x columns [p0, p0+kc) of op(A) into MR-tall strips, zero-padded.
template <typename T>
void pack_a(const GemmParams& p, const T* A, std::int64_t i0, std::int64_t mc, std::int64_t p0, std::int64_t kc,
            float* out) {
  for (std::int64_t r0 = 0; r0 < mc; r0 += MR) {
    const int rows = static_cast<int>(std::min<std::int64_t>(MR, mc - r0));
    float* dst = out + r0 * kc;
    if (!p.trans_a) {
      for (int ii = 0; ii < MR; ++ii) {
        if (ii >= rows) {
          for (std::int64_t q = 0; q < kc; ++q) dst[q * MR + ii] = 0.0f;
          continue;
        }
        const T* src = A + (i0 + r0 + ii) * p.lda + p0;
        for (std::int64_t q = 0; q < kc; ++q) dst[q * MR + ii] = to_f(src[q]);
      }
    } else {
      for (std::int64_t q = 0; q < kc; ++q) {
        const T* src = A + (p0 + q) * p.lda + i0 + r0;
        int ii = 0;
        for (; ii < rows; ++ii) dst[q * MR + ii] = to_f(src[ii]);
        for (; ii < MR; ++ii) dst[q * MR + ii] = 0.0f;
      }
    }
  }
}

// Packs NR-wide strip s of columns [j0, j0+nch) of op(B), all of K, zero-padded.
template <typename T>
void pack_b_strip(const GemmParams& p, const T* B, std::int64_t j0, std::int64_t nch, std::int64_t s, float* out) {
  const std::int64_t jb = j0 + s * NR;
  const int cols = static_cast<int>(std::min<std::int64_t>(NR, j0 + nch - jb));
  float* dst = out + s * p.k * NR;
  if (!p.trans_b) {
    for (std::int64_t q = 0; q < p.k; ++q) {
      const T* src = B + q * p.ldb + jb;
      int jj = 0;
      for (; jj < cols; ++jj) dst[q * NR + jj] = to_f(src[jj]);
      for (; jj < NR; ++jj) dst[q * NR + jj] = 0.0f;
    }
  } else {
    for (int jj = 0; jj < NR; ++jj) {
      if (jj >= cols) {
        for (std::int64_t q = 0; q < p.k; ++q) dst[q * NR + jj] = 0.0f;
        continue;
      }
      const T* src = B + (jb + jj) * p.ldb;
      for (std::int64_t q = 0; q < p.k; ++q) dst[q * NR + jj] = to_f(src[q]);
    }
  }
}

template <typename TO>
void epilogue(const GemmParams& p, const float* acc, std::int64_t ldacc, TO* C, std::int64_t i0, std::int64_t mc,
              std::int64_t j0, std::int64_t nc) {
  for (std::int64_t r = 0; r < mc; ++r) {
    TO* crow = C + (i0 + r) * p.ldc + j0;
    const float* arow = acc + r * ldacc;
    for (std::int64_t j = 0; j < nc; ++j) {
      float v = p.alpha * arow[j];
      if (p.beta != 0.0f) v += p.beta * to_f(crow[j]);
      if (p.bias) v += p.bias[j0 + j];
      if (p.act == Activation::relu && v < 0.0f) v = 0.0f;  // NaN stays NaN
      crow[j] = from_f<TO>(v);
    }
  }
}

template <typename TI, typename TO>
void gemm_one(const GemmParams& p, const TI* A, const TI* B, TO* C) {
  const std::int64_t strips_total = (p.n + NR - 1) / NR;
  const std::int64_t k_eff = std::max<std::int64_t>(p.k, 1);
  const std::int64_t strips_per_chunk =
      std::max<std::int64_t>(1, std::min(strips_total, kPackedBBudget / (k_eff * NR)));
  thread_local std::vector<float> bpack;
  for (std::int64_t s0 = 0; s0 < strips_total; s0 += strips_per_chunk) {
    const std::int64_t j0 = s0 * NR;
    const std::int64_t nch = std::min(p.n - j0, strips_per_chunk * NR);
    const std::int64_t nstrips = (nch + NR - 1) / NR;
    if (p.k > 0) {
      bpack.resize(static_cast<std::size_t>(nstrips * p.k * NR));
      float* bp = bpack.data();
      parallel_for(0, nstrips, std::max<std::int64_t>(1, 16384 / k_eff),
                   [&](std::int64_t s_begin, std::int64_t s_end) {
                     for (std::int64_t s = s_begin; s < s_end; ++s) pack_b_strip(p, B, j0, nch, s, bp);
                   });
    }
    const float* bp = bpack.data();
    const std::int64_t nbi = (p.m + MC - 1) / MC, nbj = (nch + NC - 1) / NC;
    parallel_for(0, nbi * nbj, 1, [&](std::int64_t t0, std::int64_t t1) {
      thread_local std::vector<float> apack, acc;
      apack.resize(static_cast<std::size_t>(MC * KC));
      acc.resize(static_cast<std::size_t>(MC * NC));
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t i0 = (t / nbj) * MC, jl = (t % nbj) * NC;  // jl: column offset in the chunk
        const std::int64_t mc = std::min(MC, p.m - i0), nc = std::min(NC, nch - jl);
        if (p.k == 0) std::fill(acc.begin(), acc.end(), 0.0f);
        for (std::int64_t p0 = 0; p0 < p.k; p0 += KC) {
          const std::int64_t kc = std::min(KC, p.k - p0);
          pack_a(p, A, i0, mc, p0, kc, apack.data());
          for (std::int64_t jj = 0; jj < nc; jj += NR) {
            const float* bstrip = bp + ((jl + jj) / NR) * p.k * NR + p0 * NR;
            const int nr = static_cast<int>(std::min<std::int64_t>(NR, nc - jj));
            for (std::int64_t ii = 0; ii < mc; ii += MR) {
              const int mr = static_cast<int>(std::min<std::int64_t>(MR, mc - ii));
              micro_kernel(kc, apack.data() + ii * kc, bstrip, acc.data() + ii * NC + jj, NC, mr, nr, p0 == 0);
            }
          }
        }
        epilogue(p, acc.data(), NC, C, i0, mc, j0 + jl, nc);
      }
    });
  }
}

template <typename TI, typename TO>
void gemm_cpu_t(const GemmParams& in, const TI* a, const TI* b, TO* c) {
  const GemmParams p = resolve_gemm_params(in, a, b, c, "gemm_cpu");
  if (p.m == 0 || p.n == 0) return;
  for (int bt = 0; bt < p.batch; ++bt)
    gemm_one(p, a ? a + bt * p.stride_a : a, b ? b + bt * p.stride_b : b, c + bt * p.stride_c);
}

}  // namespace

void gemm_cpu(const GemmParams& p, const float* a, const float* b, float* c) { gemm_cpu_t(p, a, b, c); }
void gemm_cpu(const GemmParams& p, const half* a, const half* b, float* c) { gemm_cpu_t(p, a, b, c); }
void gemm_cpu(const GemmParams& p, const half* a, const half* b, half* c) { gemm_cpu_t(p, a, b, c); }

}  // namespace tilenet::kernels
