// GEMM internals shared by the CPU backend, the CUDA dispatcher, the tests and the benchmark:
// argument checks with the leading dimensions resolved, and the knobs that force one tile
// configuration of one algorithm (so a single GPU run can compare configurations). Host-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "tensor/error.h"

namespace tilenet::kernels {

// Checks p (sizes, leading dimensions, batch strides, pointers) and returns a copy with lda/ldb/ldc
// filled in where they were 0. Throws ValueError naming `op` and the values it got.
GemmParams resolve_gemm_params(const GemmParams& p, const void* a, const void* b, const void* c, const char* op);

// A compile-time tile configuration of one algorithm, by name, for benchmarks and tests.
// `cfg` indexes the algorithm's configuration table (gemm_configs); -1 lets the chooser pick.
struct GemmConfigInfo {
  GemmAlgo algo;
  int cfg;
  std::string name;  // e.g. "warp_tiled_128x128x8_w64x32"
  bool half_inputs;  // the dtype family the configuration serves
};
// Every forced configuration the CUDA dispatcher knows (both dtypes).
std::vector<GemmConfigInfo> gemm_configs();

// Same as gemm(), but with a given configuration of `algo` (cfg as in gemm_configs(); -1: the
// chooser's). Throws ValueError for an unknown index.
void gemm_with_config(const GemmParams& p, const float* a, const float* b, float* c, cudaStream_t stream,
                      GemmAlgo algo, int cfg);
void gemm_with_config(const GemmParams& p, const half* a, const half* b, float* c, cudaStream_t stream,
                      GemmAlgo algo, int cfg);
void gemm_with_config(const GemmParams& p, const half* a, const half* b, half* c, cudaStream_t stream,
                      GemmAlgo algo, int cfg);

// The algorithm Auto would run for these parameters on the current device (for logs/benches).
// Where that would be wgmma, this may run the once-per-device wgmma self-check first.
GemmAlgo gemm_auto_choice(const GemmParams& p, bool half_inputs);

// Hopper self-check: an m x n x k problem (packed; m, n, k multiples of 8) on small integers for
// every transpose and wgmma tile configuration, fp32 and fp16 output, `batch` (1 or 2) strided
// batches, computed on the device and compared exactly with the CPU. Returns "" when everything
// matches, else one line per failing case with the first mismatching (i, j), the value got and the
// value expected. Runs on a private stream in relaxed capture mode (safe while another thread
// captures a graph). Throws DeviceError when the wgmma path is not available, and OutOfMemoryError
// or CudaError when the check itself cannot run.
std::string wgmma_self_check(int m, int n, int k, int batch = 1);
// The same for the Hopper implicit-GEMM convolution tile (Conv2dAlgo::ImplicitGemmWgmma): one
// convolution of each pass (fp16, small integers, exact) against the CPU reference.
std::string wgmma_conv_self_check();

// The convolution tile's half of gemm_settle_auto(): settles its gate (its self-check, once per
// device, never inside a stream capture). What the convolution launchers call before Auto chooses.
void conv_settle_auto(cudaStream_t stream);
// Whether the convolution tile's wgmma self-check has already passed on the current device (and
// TILENET_DISABLE_WGMMA is not set). Never runs the check: conv_settle_auto() does.
bool conv_wgmma_passed_for_auto();

}  // namespace tilenet::kernels
