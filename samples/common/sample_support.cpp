#include "samples/common/sample_support.h"

#include <sys/resource.h>

#include <cstdio>
#include <iostream>

#include "kernels/conv2d.h"
#include "nn/callbacks.h"
#include "samples/common/flags.h"
#include "samples/common/history_plot.h"
#include "tensor/memory.h"

namespace tilenet::samples {

Device pick_device(const std::string& requested, const std::string& program, const std::string& cpu_hint) {
  if (requested == "cpu") return Device::cpu();
  if (requested == "cuda") {
    if (!cuda_available()) throw FlagError("--device cuda: no CUDA GPU found (use --device cpu)");
    return Device::cuda();
  }
  if (cuda_available()) return Device::cuda();
  std::cout << program << ": no CUDA GPU found, running on the CPU (" << cpu_hint << ")\n";
  return Device::cpu();
}

double peak_mem_mb(Device device) {
  if (device.is_cuda()) return static_cast<double>(memory::stats(device.index).peak_bytes_in_use) / (1 << 20);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

void set_conv_autotune(const std::string& flag, Device device) {
  kernels::conv2d_set_autotune(flag == "on" && device.is_cuda());
}

void print_autotune_report(std::ostream& os) {
  for (const kernels::Conv2dAutotuneResult& r : kernels::conv2d_autotune_results()) {
    os << "autotune: conv2d " << kernels::conv2d_pass_name(r.pass) << " " << r.shape.str() << " "
       << (r.half_inputs ? "f16" : "f32") << (r.vector_loads ? "" : " (element-wise loads)") << ":";
    char ms[32];
    for (std::size_t i = 0; i < r.times.size(); ++i) {
      std::snprintf(ms, sizeof ms, "%.3f", r.times[i].ms);
      os << (i == 0 ? " " : i == 1 ? " (" : ", ") << kernels::conv2d_algo_name(r.times[i].algo) << " " << ms << " ms";
    }
    os << (r.times.size() > 1 ? ")\n" : "\n");
  }
}

void print_memory_line(Device device) {
  if (!device.is_cuda()) return;
  const MemoryStats st = memory::stats(device.index);
  const double mib = 1 << 20;
  std::printf("memory: peak_in_use_mb=%.0f peak_requested_mb=%.0f peak_reserved_mb=%.0f\n",
              static_cast<double>(st.peak_bytes_in_use) / mib, static_cast<double>(st.peak_requested_bytes) / mib,
              static_cast<double>(st.peak_bytes_reserved) / mib);
}

std::string write_history_files(const std::string& path, const nn::History& h, const std::string& title) {
  const std::string svg = svg_path_for(path);  // also checks the extension
  const bool csv = path.compare(path.size() - 4, 4, ".csv") == 0;
  nn::write_file_atomic(path, csv ? h.to_csv() : h.to_json());
  nn::write_file_atomic(svg, history_svg(h.history, title));
  return svg;
}

}  // namespace tilenet::samples
