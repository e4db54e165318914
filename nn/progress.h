// The Keras progress bar for fit/evaluate:
//   469/469 [==============================] 1s 2ms/step - loss: 0.2301 - accuracy: 0.9312
// On a terminal (isatty) the line is rewritten in place; otherwise only the final line of each
// epoch is printed. verbose 2 prints one summary line per epoch:
//   469/469 - 1s - 2ms/step - loss: 0.2301 - accuracy: 0.9312
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace tilenet::nn {

using MetricValues = std::vector<std::pair<std::string, double>>;

class Progbar {
 public:
  // target: number of steps; verbose 0/1/2; interactive: rewrite the line in place.
  Progbar(std::int64_t target, int verbose, std::ostream& os, bool interactive);
  // True when an intermediate refresh is due (interactive verbose 1, at least `interval_s` since the
  // last one): the caller then reads the running metrics (a device sync) and calls update().
  bool refresh_due(double interval_s = 0.5) const;
  void update(std::int64_t current, const MetricValues& values);
  // The epoch's final line (values: train and validation metrics).
  void finish(const MetricValues& values);
  double elapsed_s() const;

  // "0.2301" (or "1.2340e-04" below 1e-3), as Keras prints values.
  static std::string format_value(double v);
  // "2ms/step" / "350us/step" / "1s/step".
  static std::string format_per_step(double seconds_per_step);

 private:
  std::string bar(std::int64_t current) const;
  void write_line(const std::string& line, bool final);

  std::int64_t target_;
  int verbose_;
  std::ostream& os_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_, last_;
  std::size_t last_width_ = 0;
};

// True when stdout is a terminal.
bool stdout_is_terminal();

}  // namespace tilenet::nn
