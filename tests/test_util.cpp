#include "test_util.h"

#include <cstdlib>
#include <sstream>

namespace tilenet::test {

bool small_mode() {
  const char* v = std::getenv("TILENET_TEST_SMALL");
  return v && *v && std::string(v) != "0";
}

std::vector<float> random_uniform(std::size_t n, float lo, float hi, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

std::vector<float> random_ints(std::size_t n, int lo, int hi, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(d(gen));
  return v;
}

std::vector<half> to_half(const std::vector<float>& v) {
  std::vector<half> h(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) h[i] = float_to_half(v[i]);
  return h;
}

std::vector<float> to_float(const std::vector<half>& v) {
  std::vector<float> f(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) f[i] = half_to_float(v[i]);
  return f;
}

std::vector<float> round_to_half(const std::vector<float>& v) { return to_float(to_half(v)); }

double l2_norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& ref, double atol,
                                     double rtol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "size mismatch: got " << got.size() << ", expected " << ref.size();
  std::size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], r = ref[i];
    const double tol = atol + rtol * std::fabs(r);
    const double err = std::fabs(g - r);
    const bool ok = (std::isnan(r) && std::isnan(g)) || (std::isinf(r) && g == r) || err <= tol;
    if (!ok) {
      ++bad;
      const double excess = std::isnan(err) ? std::numeric_limits<double>::infinity() : err - tol;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements out of tolerance (atol " << atol
                                       << ", rtol " << rtol << "); worst at index " << worst << ": got "
                                       << got[worst] << ", expected " << ref[worst];
}

::testing::AssertionResult all_equal(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "size mismatch: got " << got.size() << ", expected " << ref.size();
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool same = (std::isnan(got[i]) && std::isnan(ref[i])) || got[i] == ref[i];
    if (!same)
      return ::testing::AssertionFailure() << "first difference at index " << i << ": got " << got[i]
                                           << ", expected " << ref[i];
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tilenet::test
