#include "tensor/error.h"

#include <cstdio>

namespace tilenet {

std::string format_bytes(std::size_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  else
    std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  return buf;
}

namespace detail {

void throw_cuda_error(cudaError_t code, const char* expr, const char* file, int line) {
  // Reset the non-sticky error state so that the next, unrelated call does not report it again.
  (void)cudaGetLastError();
  std::string msg = make_message("CUDA error ", static_cast<int>(code), " (", cudaGetErrorName(code),
                                 ": ", cudaGetErrorString(code), ") at ", file, ":", line, " in `",
                                 expr, "`");
  if (code == cudaErrorMemoryAllocation) {
    std::size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
    throw OutOfMemoryError(msg + "; device has " + format_bytes(free_b) + " free", 0, free_b);
  }
  throw CudaError(msg, code);
}

}  // namespace detail
}  // namespace tilenet
