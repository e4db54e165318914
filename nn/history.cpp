#include <cmath>
#include <cstdio>
#include <sstream>

#include "nn/sequential.h"

namespace tilenet::nn {
namespace {

std::string num(double v) {
  if (!std::isfinite(v)) return "null";  // JSON has no NaN/inf
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

template <typename T>
std::string json_array(const std::vector<T>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + num(static_cast<double>(v[i]));
  return s + "]";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

const std::vector<double>& History::operator[](const std::string& key) const {
  auto it = history.find(key);
  if (it != history.end()) return it->second;
  std::string keys;
  for (const auto& [k, v] : history) keys += (keys.empty() ? "" : ", ") + k;
  throw ValueError("History: no entry '" + key + "'; it has: " + keys);
}

std::string History::to_json() const {
  std::ostringstream os;
  os << "{\n  \"epoch\": " << json_array(epoch);
  for (const auto& [k, v] : history) os << ",\n  " << json_string(k) << ": " << json_array(v);
  os << ",\n  \"learning_rate\": " << json_array(learning_rate);
  os << ",\n  \"epoch_time_s\": " << json_array(epoch_time_s);
  os << ",\n  \"skipped_steps\": " << json_array(skipped_steps) << "\n}\n";
  return os.str();
}

std::string History::to_csv() const {
  std::ostringstream os;
  os << "epoch";
  for (const auto& [k, v] : history) os << "," << k;
  os << ",learning_rate,epoch_time_s,skipped_steps\n";
  for (std::size_t i = 0; i < epoch.size(); ++i) {
    os << epoch[i];
    for (const auto& [k, v] : history) os << "," << (i < v.size() ? num(v[i]) : "");
    os << "," << (i < learning_rate.size() ? num(learning_rate[i]) : "");
    os << "," << (i < epoch_time_s.size() ? num(epoch_time_s[i]) : "");
    os << "," << (i < skipped_steps.size() ? std::to_string(skipped_steps[i]) : "") << "\n";
  }
  return os.str();
}

}  // namespace tilenet::nn
