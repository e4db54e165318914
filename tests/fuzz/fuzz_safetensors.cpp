// libFuzzer: safetensors parsing (strict JSON header, offsets, dtypes, shapes). Any input must
// either parse or throw tilenet::Error; what parses must re-encode to a file that parses to the
// same tensors (names, dtypes, shapes, bytes) and metadata.
#include <cstdint>
#include <cstring>

#include "nn/io/safetensors.h"

using namespace tilenet;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nn::io::SafetensorsContents a;
  try {
    a = nn::io::parse_safetensors(data, size, "fuzz");
  } catch (const Error&) {
    return 0;
  }
  // Re-encode (the writer's header + the tensors' bytes) and parse again.
  const std::string header = nn::io::safetensors_header(a.tensors, a.metadata);
  std::vector<std::uint8_t> file(8);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) file[i] = static_cast<std::uint8_t>(n & 0xff);
  file.insert(file.end(), header.begin(), header.end());
  for (const auto& [name, t] : a.tensors) {
    const auto* p = static_cast<const std::uint8_t*>(t.raw_data());
    file.insert(file.end(), p, p + t.nbytes());
  }
  const nn::io::SafetensorsContents b = nn::io::parse_safetensors(file.data(), file.size(), "re-encoded");
  if (b.tensors.size() != a.tensors.size() || b.metadata != a.metadata) __builtin_trap();
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor &x = a.tensors[i].second, &y = b.tensors[i].second;
    if (a.tensors[i].first != b.tensors[i].first || x.dtype() != y.dtype() || x.shape() != y.shape() ||
        std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0)
      __builtin_trap();
  }
  return 0;
}
