// Placeholder CUDA launchers for kernels/gemm.h while the CUDA GEMM kernels are being written:
// each throws DeviceError so CUDA tensors fail loudly and the CPU path is usable. Removed when
// kernels/gemm.cu lands.
#include "kernels/gemm_internal.h"
#include "tensor/error.h"

namespace tilenet::kernels {
namespace {
[[noreturn]] void pending(const char* op) {
  throw DeviceError(detail::make_message(op, ": the CUDA kernel is not built yet; use CPU tensors"));
}
}  // namespace

void gemm(const GemmParams&, const float*, const float*, float*, cudaStream_t, GemmAlgo) { pending("gemm"); }
void gemm(const GemmParams&, const half*, const half*, float*, cudaStream_t, GemmAlgo) { pending("gemm"); }
void gemm(const GemmParams&, const half*, const half*, half*, cudaStream_t, GemmAlgo) { pending("gemm"); }
void column_sums(const float*, std::int64_t, std::int64_t, float*, bool, cudaStream_t) { pending("column_sums"); }
void column_sums(const half*, std::int64_t, std::int64_t, float*, bool, cudaStream_t) { pending("column_sums"); }

}  // namespace tilenet::kernels
