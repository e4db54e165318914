#include "nn/initializers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/philox.h"

namespace tilenet::nn {
namespace {

const char* const kNames[] = {"zeros",        "ones",      "glorot_uniform", "glorot_normal", "he_uniform",
                              "he_normal",    "lecun_uniform", "lecun_normal"};

// The scale of Keras's VarianceScaling for a name: variance = scale / n.
void variance_params(const std::string& name, std::int64_t fan_in, std::int64_t fan_out, double& n, double& scale) {
  if (name.rfind("glorot", 0) == 0) {
    n = static_cast<double>(fan_in + fan_out) / 2.0;
    scale = 1.0;
  } else if (name.rfind("he", 0) == 0) {
    n = static_cast<double>(fan_in);
    scale = 2.0;
  } else {
    n = static_cast<double>(fan_in);
    scale = 1.0;
  }
  if (n <= 0) n = 1;
}

}  // namespace

void check_initializer(const std::string& name) {
  for (const char* k : kNames)
    if (name == k) return;
  std::string known;
  for (const char* k : kNames) known += std::string(known.empty() ? "" : ", ") + k;
  throw ValueError("unknown initializer '" + name + "'; known: " + known);
}

void initialize(const std::string& name, Tensor& out, std::int64_t fan_in, std::int64_t fan_out, std::uint64_t seed) {
  check_initializer(name);
  out.check_dtype(DType::f32, "initialize");
  const std::int64_t count = out.numel();
  std::vector<float> v(static_cast<std::size_t>(count), 0.0f);
  if (name == "ones") {
    std::fill(v.begin(), v.end(), 1.0f);
  } else if (name != "zeros") {
    double n, scale;
    variance_params(name, fan_in, fan_out, n, scale);
    const bool uniform = name.size() > 8 && name.compare(name.size() - 8, 8, "_uniform") == 0;
    if (uniform) {
      const double limit = std::sqrt(3.0 * scale / n);
      for (std::int64_t i = 0; i < count; ++i) {
        const double u = kernels::philox_uniform_at(seed, static_cast<std::uint64_t>(i));
        v[i] = static_cast<float>((2.0 * u - 1.0) * limit);
      }
    } else {
      const double stddev = std::sqrt(scale / n) / 0.87962566103423978;
      const double two_pi = 6.283185307179586;
      std::uint64_t counter = 0;  // uniforms consumed; rejection keeps the stream sequential
      for (std::int64_t i = 0; i < count; ++i) {
        double z;
        do {
          const double u1 = kernels::philox_uniform_at(seed, counter++);
          const double u2 = kernels::philox_uniform_at(seed, counter++);
          z = std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2);
        } while (std::fabs(z) > 2.0);
        v[i] = static_cast<float>(z * stddev);
      }
    }
  }
  Tensor host = Tensor::from_vector(v, out.shape());
  out.copy_from(host);
}

}  // namespace tilenet::nn
