// 2-D convolution kernels: NHWC activations, KRSC filters, cross-correlation, asymmetric padding,
// stride, dilation. Forward (fused bias + ReLU epilogue), backward-data and backward-filter, fp32
// and fp16 (fp32 accumulation). Host-only header: raw pointers, a shape struct, a stream.
//
//   x  [n, h, w, c]    w  [k, r, s, c]    y  [n, p, q, k]
//   y[n,p,q,k] = sum_{r,s,c} x[n, p*stride_h - pad_top + r*dilation_h,
//                               q*stride_w - pad_left + s*dilation_w, c] * w[k,r,s,c]
// (out-of-range input positions read as zero). Implicit-GEMM view of the forward pass:
// M = n*p*q, N = k, K = r*s*c; backward-data: M = n*h*w, N = c, K = k*r*s; backward-filter:
// M = k, N = r*s*c, K = n*p*q.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/gemm.h"  // Activation
#include "tensor/half.h"

namespace tilenet::kernels {

struct Conv2dShape {
  int n = 1, h = 1, w = 1, c = 1;  // input x [n, h, w, c]
  int k = 1, r = 1, s = 1;         // filters w [k, r, s, c]
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;

  // One output extent, in 64 bits (no overflow for any int inputs); 0 when the (dilated) window
  // does not fit the padded input or the stride is not positive.
  static std::int64_t out_extent(std::int64_t in, std::int64_t pad0, std::int64_t pad1, std::int64_t dil,
                                 std::int64_t win, std::int64_t stride) {
    const std::int64_t span = in + pad0 + pad1 - dil * (win - 1) - 1;
    return span < 0 || stride < 1 ? 0 : span / stride + 1;
  }
  // Output extents (check_conv2d_shape keeps them within int).
  int p() const { return static_cast<int>(out_extent(h, pad_top, pad_bottom, dilation_h, r, stride_h)); }
  int q() const { return static_cast<int>(out_extent(w, pad_left, pad_right, dilation_w, s, stride_w)); }
  std::int64_t gemm_m() const { return static_cast<std::int64_t>(n) * p() * q(); }
  std::int64_t gemm_n() const { return k; }
  std::int64_t gemm_k() const { return static_cast<std::int64_t>(r) * s * c; }
  std::int64_t x_elems() const { return static_cast<std::int64_t>(n) * h * w * c; }
  std::int64_t w_elems() const { return static_cast<std::int64_t>(k) * r * s * c; }
  std::int64_t y_elems() const { return gemm_m() * k; }
  // Multiply-adds of one pass times two (the same for all three passes).
  double flops() const { return 2.0 * static_cast<double>(gemm_m()) * gemm_n() * gemm_k(); }
  // "x(2,13,13,3) w(7,3,3,3) pad(1,1,1,1) stride(2,2) dil(1,1) -> y(2,7,7,7)"
  std::string str() const;
};

// Throws ShapeError (or ValueError) naming `op` when a size is not positive, a padding negative,
// a stride or dilation below 1, the output empty, or a tensor too large for the kernels' 32-bit
// per-image indexing (one image of x or y, or w, at 2^31 elements or more).
void check_conv2d_shape(const Conv2dShape& shape, const char* op);

enum class Conv2dPass { forward, backward_data, backward_filter };
const char* conv2d_pass_name(Conv2dPass pass);  // "fwd", "bwd_data", "bwd_filter"

// CUDA algorithms. Auto asks the chooser (conv2d_choose_algo). An explicit algorithm always runs
// (any shape, any alignment): where its fast path does not apply it takes a slower loader itself.
// On Hopper, Auto takes ImplicitGemmWgmma for fp16 only once the wgmma self-check (run at the first
// fp16 GEMM or convolution outside a stream capture, or by gemm_settle_auto) has passed on the device.
enum class Conv2dAlgo {
  Auto,
  Im2colGemm,    // explicit im2col buffer (col2im gather for backward-data) + tilenet GEMM; workspace
  ImplicitGemm,  // no im2col buffer; fp32: SIMT register-blocked, fp16: Tensor Cores (mma.sync,
                 // ldmatrix, multi-stage cp.async); tile chosen by shape
  ImplicitGemmLargeTile,  // the same kernels with the tile forced to the largest config
  ImplicitGemmSmallTile,  // ... and to the smallest (more blocks for small outputs)
  ImplicitGemm8Warps,     // the large tile on 8 warps instead of 4 (fp16; fp32 runs the large tile)
  ImplicitGemmWgmma,      // Hopper: the 128x128x64 wgmma tile (sm_90a build, compute capability 9.0,
                          // fp16 with 16-byte-loadable operands); elsewhere ImplicitGemm's tile
};
const char* conv2d_algo_name(Conv2dAlgo algo);
// Every explicit algorithm (no Auto), for tests and benchmarks.
std::vector<Conv2dAlgo> conv2d_algos();
// What Auto runs for this shape, pass and input precision (fp16 when `half_inputs`), for operands
// of aligned tensors: with autotuning on, the search's pick once one was made on this device.
Conv2dAlgo conv2d_choose_algo(const Conv2dShape& shape, Conv2dPass pass, bool half_inputs);

// Bytes of device workspace `algo` needs for `pass` (0 when none). The launchers throw ValueError
// when given less. Auto: what the chooser's pick needs (with autotuning on: what any implicit-GEMM
// candidate needs).
std::size_t conv2d_workspace_bytes(const Conv2dShape& shape, Conv2dPass pass, bool half_inputs,
                                   Conv2dAlgo algo = Conv2dAlgo::Auto);

// --- Autotuning: Auto by measurement (tilenet's counterpart of cudnn.benchmark; off by default).
// With it on, the first Auto launch that meets a (device, shape, pass, input precision, operand
// alignment) times the candidates on the device and runs the fastest from then on:
// ImplicitGemm (the chooser's tile), the large, small and 8-warp tiles, the Hopper wgmma tile
// (once its self-check has passed) and Im2colGemm when the workspace given covers it; the
// chooser's pick is first, so a tie keeps it. The search runs on the launch's own stream and
// buffers (backward-filter with `accumulate` times into a scratch dw of its own), waits for that
// stream once, and never runs inside a stream capture: a captured launch that finds no result
// runs the chooser's pick and records nothing. Thread-safe; the results are process-wide.
void conv2d_set_autotune(bool on);
bool conv2d_autotune();
struct Conv2dAlgoTime {
  Conv2dAlgo algo;
  float ms;                     // one launch sequence of the pass, averaged over the timed runs
  std::size_t workspace_bytes;  // what it needs with the operands' loader modes
};
struct Conv2dAutotuneResult {
  int device = 0;
  Conv2dShape shape;
  Conv2dPass pass = Conv2dPass::forward;
  bool half_inputs = false;
  bool vector_loads = true;  // the operands took the 16-byte loaders (aligned pointers, c/k multiples)
  std::vector<Conv2dAlgoTime> times;  // every candidate timed, fastest first; times[0] is what Auto runs
};
// The searches made so far, oldest first; conv2d_autotune_reset() forgets them (the next Auto
// launches search again).
std::vector<Conv2dAutotuneResult> conv2d_autotune_results();
void conv2d_autotune_reset();

// --- CUDA launchers: device pointers, queued on `stream`; workspace may be null when 0 bytes are
// needed, else 16-byte aligned. Throw ShapeError/ValueError on bad arguments, CudaError on launch
// failure.
// y = act(conv(x, w) + bias); bias: [k] fp32 or null. y is written, never read (may hold NaN).
void conv2d_forward(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                    Activation act, void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
                    Conv2dAlgo algo = Conv2dAlgo::Auto);
void conv2d_forward(const Conv2dShape& shape, const half* x, const half* w, const float* bias, half* y,
                    Activation act, void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
                    Conv2dAlgo algo = Conv2dAlgo::Auto);
// dx = gradient of sum(dy * conv(x, w)) wrt x; overwritten.
void conv2d_backward_data(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                          void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
                          Conv2dAlgo algo = Conv2dAlgo::Auto);
void conv2d_backward_data(const Conv2dShape& shape, const half* dy, const half* w, half* dx,
                          void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
                          Conv2dAlgo algo = Conv2dAlgo::Auto);
// dw = gradient wrt w; overwritten, or added to when `accumulate`. Deterministic (fixed-order
// split-K reduction). fp16 inputs may write an fp32 or fp16 dw.
void conv2d_backward_filter(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                            bool accumulate, void* workspace, std::size_t workspace_bytes,
                            cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::Auto);
void conv2d_backward_filter(const Conv2dShape& shape, const half* x, const half* dy, float* dw,
                            bool accumulate, void* workspace, std::size_t workspace_bytes,
                            cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::Auto);
void conv2d_backward_filter(const Conv2dShape& shape, const half* x, const half* dy, half* dw,
                            bool accumulate, void* workspace, std::size_t workspace_bytes,
                            cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::Auto);

// --- CPU reference (kernels/conv2d_ref.cpp): plain loops, double accumulation; the oracle.
// Double overloads serve the finite-difference gradient checks.
void conv2d_forward_ref(const Conv2dShape& shape, const double* x, const double* w, const double* bias,
                        double* y, Activation act);
void conv2d_forward_ref(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                        Activation act);
void conv2d_forward_ref(const Conv2dShape& shape, const half* x, const half* w, const float* bias, half* y,
                        Activation act);
void conv2d_backward_data_ref(const Conv2dShape& shape, const double* dy, const double* w, double* dx);
void conv2d_backward_data_ref(const Conv2dShape& shape, const float* dy, const float* w, float* dx);
void conv2d_backward_data_ref(const Conv2dShape& shape, const half* dy, const half* w, half* dx);
void conv2d_backward_filter_ref(const Conv2dShape& shape, const double* x, const double* dy, double* dw,
                                bool accumulate);
void conv2d_backward_filter_ref(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                                bool accumulate);
void conv2d_backward_filter_ref(const Conv2dShape& shape, const half* x, const half* dy, float* dw,
                                bool accumulate);
void conv2d_backward_filter_ref(const Conv2dShape& shape, const half* x, const half* dy, half* dw,
                                bool accumulate);

// --- CPU backend (kernels/conv2d_cpu.cpp): im2col + gemm_cpu, multi-threaded; what Tensor ops
// run on the host. Same semantics as the references, float accumulation.
void conv2d_forward_cpu(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                        Activation act);
void conv2d_forward_cpu(const Conv2dShape& shape, const half* x, const half* w, const float* bias, half* y,
                        Activation act);
void conv2d_backward_data_cpu(const Conv2dShape& shape, const float* dy, const float* w, float* dx);
void conv2d_backward_data_cpu(const Conv2dShape& shape, const half* dy, const half* w, half* dx);
void conv2d_backward_filter_cpu(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                                bool accumulate);
void conv2d_backward_filter_cpu(const Conv2dShape& shape, const half* x, const half* dy, float* dw,
                                bool accumulate);
void conv2d_backward_filter_cpu(const Conv2dShape& shape, const half* x, const half* dy, half* dw,
                                bool accumulate);

}  // namespace tilenet::kernels
