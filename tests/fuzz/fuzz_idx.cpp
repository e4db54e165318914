// libFuzzer: IDX parsing, raw and gzipped (the input is the whole file). Any input must parse or
// throw tilenet::Error; 3-D and 1-D results also go through the image and label conversions.
#include <cstdint>

#include "nn/data/idx.h"

using namespace tilenet;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const nn::data::IdxArray a = nn::data::parse_idx(data, size, "fuzz");
    std::uint64_t total = 1;
    for (std::int64_t d : a.dims) total *= static_cast<std::uint64_t>(d);
    if (total != a.data.size()) __builtin_trap();
    if (a.dims.size() == 3) (void)nn::data::idx_images(a, "fuzz");
    if (a.dims.size() == 1) (void)nn::data::idx_labels(a, "fuzz", 10);
  } catch (const Error&) {
  }
  return 0;
}
