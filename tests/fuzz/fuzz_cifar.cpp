// libFuzzer: CIFAR-10 binary parsing. Any input must parse or throw tilenet::Error.
#include <cstdint>

#include "nn/data/cifar10.h"

using namespace tilenet;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const nn::data::LabeledImages d = nn::data::parse_cifar10(data, size, "fuzz", true);
    if (d.x.dim(0) * static_cast<std::int64_t>(nn::data::kCifarRecordBytes) != static_cast<std::int64_t>(size))
      __builtin_trap();
  } catch (const Error&) {
  }
  return 0;
}
