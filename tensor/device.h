// Devices: where a tensor lives. cpu or cuda:N.
#pragma once

#include <string>

namespace tilenet {

enum class DeviceType { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  std::string str() const { return is_cuda() ? "cuda:" + std::to_string(index) : "cpu"; }
  friend bool operator==(const Device& a, const Device& b) {
    return a.type == b.type && (a.type == DeviceType::cpu || a.index == b.index);
  }
  friend bool operator!=(const Device& a, const Device& b) { return !(a == b); }
};

// True when the CUDA runtime sees at least one device. Never throws.
bool cuda_available();
// Number of CUDA devices (0 without a driver or GPU). Never throws.
int cuda_device_count();
// cuda:0 when a GPU is present, else cpu.
Device default_device();

// Throws DeviceError naming `op` when no GPU is present or `index` is out of range; on first use of
// a device, also checks that this build of tilenet carries kernels for its compute capability.
// Makes `index` the current CUDA device.
void require_cuda(const char* op, int index = 0);

// Compute capability of device `index` as major*10+minor (e.g. 90). Requires a GPU.
int compute_capability(int index = 0);

// The CUDA architectures this library was compiled for, e.g. "70,80,90".
const char* built_cuda_architectures();

}  // namespace tilenet
