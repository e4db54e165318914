// Device pieces of the softmax family (kernels/softmax.cu, the only includer): the six modes, the
// row statistic and its online merge across lanes, warps and blocks, phase 1's folding of a
// row's vectors into it, and phase 2's per-element outputs and per-row losses.
#pragma once

#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "kernels/vector_access.cuh"

namespace tilenet::kernels::softmax_detail {

enum class Mode { softmax, log_softmax, softmax_bwd, log_softmax_bwd, ce_hard, ce_soft };

constexpr bool is_bwd(Mode m) { return m == Mode::softmax_bwd || m == Mode::log_softmax_bwd; }
constexpr bool is_ce(Mode m) { return m == Mode::ce_hard || m == Mode::ce_soft; }

template <typename T>
struct RowArgs {
  const T* a;  // x, y (backward) or logits   [rows, cols]
  const T* b;  // dy (backward)               [rows, cols]
  T* out;      // y, dx or dlogits (may be null for cross-entropy)
  const std::int32_t* labels;  // [rows]
  const float* targets;        // [rows, cols]
  float* losses;               // [rows]
  std::int64_t rows, cols;
  float scale;                 // cross-entropy gradient scale, times *scale_device when set
  const float* scale_device;   // [1] or null (1): the loss scale, read on the device
};

// Row statistic. Forward/CE: m = max, s = sum e^(x - m); soft CE also t = sum(t), u = sum t (x - m).
// Backward: s = sum(dy * y) or sum(dy).
struct Stat {
  float m, s, t, u;
};

__device__ __forceinline__ float exp_fast(float x) { return exp2f(x * 1.4426950408889634f); }

template <Mode M>
__device__ __forceinline__ Stat stat_init() {
  return Stat{-INFINITY, 0.0f, 0.0f, 0.0f};
}

template <Mode M>
__device__ __forceinline__ Stat merge(const Stat& a, const Stat& b) {
  if constexpr (is_bwd(M)) {
    return Stat{a.m, a.s + b.s, 0.0f, 0.0f};
  } else {
    Stat r;
    r.m = fmaxf(a.m, b.m);
    // An empty side has s == 0 (and m == -inf): it must not produce e^(-inf - -inf) = NaN.
    r.s = (a.s == 0.0f ? 0.0f : a.s * exp_fast(a.m - r.m)) + (b.s == 0.0f ? 0.0f : b.s * exp_fast(b.m - r.m));
    if constexpr (M == Mode::ce_soft) {
      r.t = a.t + b.t;
      // No shift when a side's max is the merged one: two sides of nothing but -inf (whose targets
      // made u = -inf) must not produce t * (-inf - -inf) = NaN.
      r.u = a.u + b.u + (a.t == 0.0f || a.m == r.m ? 0.0f : a.t * (a.m - r.m)) +
            (b.t == 0.0f || b.m == r.m ? 0.0f : b.t * (b.m - r.m));
    } else {
      r.t = r.u = 0.0f;
    }
    return r;
  }
}

template <Mode M>
__device__ __forceinline__ Stat shfl_xor(const Stat& a, int o) {
  Stat r{a.m, a.s, a.t, a.u};
  r.s = __shfl_xor_sync(0xffffffffu, a.s, o);
  if constexpr (!is_bwd(M)) r.m = __shfl_xor_sync(0xffffffffu, a.m, o);
  if constexpr (M == Mode::ce_soft) {
    r.t = __shfl_xor_sync(0xffffffffu, a.t, o);
    r.u = __shfl_xor_sync(0xffffffffu, a.u, o);
  }
  return r;
}

template <Mode M>
__device__ __forceinline__ Stat warp_merge(Stat v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = merge<M>(v, shfl_xor<M>(v, o));
  return v;
}

// Every thread of the block gets the merged statistic. scratch: 33 Stats of shared memory.
template <Mode M>
__device__ __forceinline__ Stat block_merge(Stat v, Stat* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_merge<M>(v);
  __syncthreads();  // scratch may still be read from the previous row
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    Stat w = lane < nwarps ? scratch[lane] : stat_init<M>();
    w = warp_merge<M>(w);
    if (lane == 0) scratch[32] = w;
  }
  __syncthreads();
  return scratch[32];
}

// Phase 1 contribution of one vector of V values (a: x or y, b: dy) at column `col`.
template <Mode M, int V>
__device__ __forceinline__ void accumulate(Stat& st, const float (&a)[V], const float (&b)[V], const float* trow,
                                           std::int64_t col) {
  if constexpr (is_bwd(M)) {
#pragma unroll
    for (int k = 0; k < V; ++k) st.s += M == Mode::softmax_bwd ? a[k] * b[k] : b[k];
  } else {
    float vm = a[0];
#pragma unroll
    for (int k = 1; k < V; ++k) vm = fmaxf(vm, a[k]);
    const float m = fmaxf(st.m, vm);
    if (m == -INFINITY) {
      // Nothing but -inf (or NaN: fmaxf skips it) so far, so no shift exists yet. A NaN must still
      // poison the row as in the reference, and soft targets on -inf logits still count: they add
      // to sum(t) and make the loss +inf (u = -inf).
      bool nan = false;
#pragma unroll
      for (int k = 0; k < V; ++k) nan = nan || isnan(a[k]);
      if (nan) st.s = NAN;
      if constexpr (M == Mode::ce_soft) {
        float t[V];
        load_floats<float, V>(trow + col, t);
#pragma unroll
        for (int k = 0; k < V; ++k)
          if (t[k] != 0.0f) st.t += t[k], st.u = -INFINITY;
      }
      return;
    }
    float s = st.s == 0.0f ? 0.0f : st.s * exp_fast(st.m - m);
#pragma unroll
    for (int k = 0; k < V; ++k) s += exp_fast(a[k] - m);
    if constexpr (M == Mode::ce_soft) {
      float t[V];
      load_floats<float, V>(trow + col, t);
      float u = st.t == 0.0f ? st.u : st.u + st.t * (st.m - m);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        st.t += t[k];
        if (t[k] != 0.0f) u += t[k] * (a[k] - m);
      }
      st.u = u;
    }
    st.m = m;
    st.s = s;
  }
}

// Per-row values phase 2 needs, derived once from the statistic.
struct RowConsts {
  float m, inv_s, log_s, dot, tsum, scale;
  std::int64_t label;
};

template <Mode M, typename T>
__device__ __forceinline__ RowConsts row_consts(const Stat& st, const RowArgs<T>& p, std::int64_t row) {
  RowConsts c{st.m, 1.0f / st.s, logf(st.s), st.s, st.t, p.scale, -1};
  if constexpr (is_ce(M)) {
    // One multiply in float, as the references form it; an L1 hit after the first row.
    if (p.scale_device) c.scale = p.scale * *p.scale_device;
  }
  if constexpr (M == Mode::ce_hard) {
    c.label = p.labels[row];
    // A label outside the row poisons its gradient as well as its loss, so a mixed-precision
    // step is skipped and an fp32 one fails loudly instead of training on a wrong gradient.
    if (c.label < 0 || c.label >= p.cols) c.scale = NAN;
  }
  if constexpr (M == Mode::ce_soft) {
    // No net target mass: the loss does not depend on the logits, the gradient is -t * scale.
    // exp(x - inf) * 0 is 0 for finite and -inf logits (a masked row of -inf would otherwise give
    // NaN from -inf - -inf); a NaN or +inf logit still shows as NaN. The reference does the same.
    if (c.tsum == 0.0f) {
      c.m = INFINITY;
      c.inv_s = 0.0f;
    }
  }
  return c;
}

// Phase 2: V outputs at column `col` of row `row`.
template <Mode M, typename T, int V>
__device__ __forceinline__ void emit(const RowConsts& c, const float (&a)[V], const float (&b)[V], const RowArgs<T>& p,
                                     std::int64_t row, std::int64_t col) {
  float o[V];
  if constexpr (M == Mode::softmax) {
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = exp_fast(a[k] - c.m) * c.inv_s;
  } else if constexpr (M == Mode::log_softmax) {
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = (a[k] - c.m) - c.log_s;
  } else if constexpr (M == Mode::softmax_bwd) {
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = a[k] * (b[k] - c.dot);
  } else if constexpr (M == Mode::log_softmax_bwd) {
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = b[k] - exp_fast(a[k]) * c.dot;
  } else if constexpr (M == Mode::ce_hard) {
#pragma unroll
    for (int k = 0; k < V; ++k)
      o[k] = (exp_fast(a[k] - c.m) * c.inv_s - (col + k == c.label ? 1.0f : 0.0f)) * c.scale;
  } else {
    float t[V];
    load_floats<float, V>(p.targets + row * p.cols + col, t);
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = (exp_fast(a[k] - c.m) * c.inv_s * c.tsum - t[k]) * c.scale;
  }
  store_floats<T, V>(p.out + row * p.cols + col, o);
}

template <Mode M, typename T>
__device__ __forceinline__ void write_loss(const Stat& st, const RowArgs<T>& p, std::int64_t row) {
  if constexpr (M == Mode::ce_hard) {
    const std::int32_t label = p.labels[row];
    float loss = NAN;
    if (label >= 0 && label < p.cols) loss = logf(st.s) - (to_float(p.a[row * p.cols + label]) - st.m);
    p.losses[row] = loss;
  } else if constexpr (M == Mode::ce_soft) {
    // loss = log(s) * sum(t) - sum(t * (x - m)), as in the reference. With no net target mass the
    // first term is dropped (log 0 * 0 would be NaN when every logit is -inf), so a masked row
    // (u = 0 too) has loss 0 and one whose targets cancel has -u.
    p.losses[row] = (st.t == 0.0f ? 0.0f : logf(st.s) * st.t) - st.u;
  }
}

}  // namespace tilenet::kernels::softmax_detail
