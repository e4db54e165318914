// What both sample trainers need besides flags: picking the device, the peak-memory figure of
// their last line, and writing the history files (nn::History as CSV/JSON plus the SVG plot).
#pragma once

#include <ostream>
#include <string>

#include "nn/sequential.h"
#include "tensor/device.h"

namespace tilenet::samples {

// "cuda" or "cpu" as asked (FlagError when cuda is asked without a GPU); "" picks cuda when a GPU
// is present, else cpu after printing a one-line notice naming `program` and `cpu_hint`.
Device pick_device(const std::string& requested, const std::string& program, const std::string& cpu_hint);

// MiB: the GPU caching allocator's peak bytes in use on CUDA; the process's peak resident set on
// the CPU.
double peak_mem_mb(Device device);
// On CUDA, prints "memory: peak_in_use_mb=N peak_requested_mb=N peak_reserved_mb=N": blocks held
// by live buffers, bytes those buffers asked for (PyTorch's max_memory_allocated counts the same,
// rounded to 512 B), and everything held from the driver, cache included (PyTorch's
// max_memory_reserved). Nothing on the CPU. The trainers print it just before their last line.
void print_memory_line(Device device);

// --autotune on|off: "on" turns on the convolutions' autotuning (kernels::conv2d_set_autotune: the
// first launch of each layer's shape times the candidate kernels and keeps the fastest) when
// training on CUDA; nothing on the CPU.
void set_conv_autotune(const std::string& flag, Device device);
// One line per autotuning search made so far, e.g. "autotune: conv2d fwd x(128,27,27,64) ... f16:
// implicit_gemm_wgmma 0.412 ms (implicit_gemm 0.498 ms, ...)"; nothing when none was made.
void print_autotune_report(std::ostream& os);

// Writes h to `path` (.csv or .json, atomically) and the plot beside it (svg_path_for(path));
// returns the plot's path.
std::string write_history_files(const std::string& path, const nn::History& h, const std::string& title);

}  // namespace tilenet::samples
