#include "nn/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tilenet::nn {

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

Progbar::Progbar(std::int64_t target, int verbose, std::ostream& os, bool interactive)
    // Only verbose 1 draws a live bar; verbose 2 prints plain summary lines even on a terminal.
    : target_(target), verbose_(verbose), os_(os), interactive_(interactive && verbose == 1) {
  start_ = last_ = std::chrono::steady_clock::now();
}

double Progbar::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

bool Progbar::refresh_due(double interval_s) const {
  if (verbose_ != 1 || !interactive_) return false;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count() >= interval_s;
}

std::string Progbar::format_value(double v) {
  char buf[64];
  if (v != 0.0 && std::fabs(v) < 1e-3)
    std::snprintf(buf, sizeof buf, "%.4e", v);
  else
    std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

std::string Progbar::format_per_step(double s) {
  char buf[64];
  if (s >= 1.0)
    std::snprintf(buf, sizeof buf, "%.0fs/step", s);
  else if (s >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.0fms/step", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0fus/step", s * 1e6);
  return buf;
}

std::string Progbar::bar(std::int64_t current) const {
  const std::string t = std::to_string(target_);
  std::string c = std::to_string(current);
  if (c.size() < t.size()) c = std::string(t.size() - c.size(), ' ') + c;
  std::string b = c + "/" + t + " [";
  const int width = 30;
  const int done = target_ > 0 ? static_cast<int>(width * static_cast<double>(current) / target_) : width;
  if (done > 0) {
    b += std::string(static_cast<std::size_t>(done - 1), '=');
    b += current < target_ ? ">" : "=";
  }
  b += std::string(static_cast<std::size_t>(width - std::max(done, 0)), '.');
  return b + "]";
}

void Progbar::write_line(const std::string& line, bool final) {
  if (interactive_) {
    os_ << '\r' << line;
    if (line.size() < last_width_) os_ << std::string(last_width_ - line.size(), ' ');
    last_width_ = line.size();
    if (final) os_ << '\n';
  } else if (final) {
    os_ << line << '\n';
  }
  os_.flush();
}

void Progbar::update(std::int64_t current, const MetricValues& values) {
  last_ = std::chrono::steady_clock::now();
  if (verbose_ != 1 || !interactive_) return;
  const double el = elapsed_s();
  const double eta = current > 0 ? el / current * (target_ - current) : 0.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, " ETA: %.0fs", eta);
  std::string line = bar(current) + buf;
  for (const auto& [k, v] : values) line += " - " + k + ": " + format_value(v);
  write_line(line, false);
}

void Progbar::finish(const MetricValues& values) {
  if (verbose_ == 0) return;
  const double el = elapsed_s();
  const double per = target_ > 0 ? el / target_ : 0.0;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.0fs", el);
  std::string line;
  if (verbose_ == 1)
    line = bar(target_) + " " + secs + " " + format_per_step(per);
  else
    line = std::to_string(target_) + "/" + std::to_string(target_) + " - " + secs + " - " + format_per_step(per);
  for (const auto& [k, v] : values) line += " - " + k + ": " + format_value(v);
  write_line(line, true);
}

}  // namespace tilenet::nn
