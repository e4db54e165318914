// Sequential::summary(): Keras 3's table.
//
// Model: "sequential"
// ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
// ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
// ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
// │ dense (Dense)                   │ (None, 512)            │       401,920 │
// ├─────────────────────────────────┼────────────────────────┼───────────────┤
// ...
// └─────────────────────────────────┴────────────────────────┴───────────────┘
//  Total params: 669,706 (2.55 MB)
//  Trainable params: 669,706 (2.55 MB)
//  Non-trainable params: 0 (0.00 B)
#include <cstdio>
#include <iostream>
#include <sstream>

#include "nn/sequential.h"

namespace tilenet::nn {
namespace {

std::string with_commas(std::int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

// Keras's readable_memory_size: 1024-based units, two decimals.
std::string readable_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  for (const char* u : units) {
    if (bytes / 1024.0 < 1.0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f %s", bytes, u);
      return buf;
    }
    bytes /= 1024.0;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f PB", bytes);
  return buf;
}

std::string repeat(const char* s, std::size_t n) {
  std::string r;
  for (std::size_t i = 0; i < n; ++i) r += s;
  return r;
}

std::string pad_right(const std::string& s, std::size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }
std::string pad_left(const std::string& s, std::size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

}  // namespace

void Sequential::summary(std::ostream& os) const {
  if (!shapes_ready_)
    throw ValueError("summary: model '" + name_ + "' is not built; add an Input(shape) first or call build(shape)");
  struct Row {
    std::string name, shape, params;
  };
  std::vector<Row> rows;
  for (const auto& l : layers_)
    rows.push_back({l->label(), batch_shape_str(l->output_shape()), with_commas(l->count_params())});
  // Keras's default widths, widened when a cell needs more.
  std::size_t w0 = 31, w1 = 22, w2 = 13;
  for (const Row& r : rows) {
    w0 = std::max(w0, r.name.size());
    w1 = std::max(w1, r.shape.size());
    w2 = std::max(w2, r.params.size());
  }
  const std::string h0 = repeat("━", w0 + 2), h1 = repeat("━", w1 + 2), h2 = repeat("━", w2 + 2);
  const std::string l0 = repeat("─", w0 + 2), l1 = repeat("─", w1 + 2), l2 = repeat("─", w2 + 2);
  os << "Model: \"" << name_ << "\"\n";
  os << "┏" << h0 << "┳" << h1 << "┳" << h2 << "┓\n";
  os << "┃ " << pad_right("Layer (type)", w0) << " ┃ " << pad_right("Output Shape", w1) << " ┃ "
     << pad_left("Param #", w2) << " ┃\n";
  os << "┡" << h0 << "╇" << h1 << "╇" << h2 << "┩\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    os << "│ " << pad_right(rows[i].name, w0) << " │ " << pad_right(rows[i].shape, w1) << " │ "
       << pad_left(rows[i].params, w2) << " │\n";
    if (i + 1 < rows.size()) os << "├" << l0 << "┼" << l1 << "┼" << l2 << "┤\n";
  }
  os << "└" << l0 << "┴" << l1 << "┴" << l2 << "┘\n";
  const std::int64_t total = count_params(false), trainable = count_params(true);
  os << " Total params: " << with_commas(total) << " (" << readable_bytes(4.0 * total) << ")\n";
  os << " Trainable params: " << with_commas(trainable) << " (" << readable_bytes(4.0 * trainable) << ")\n";
  os << " Non-trainable params: " << with_commas(total - trainable) << " ("
     << readable_bytes(4.0 * (total - trainable)) << ")\n";
}

void Sequential::summary() const { summary(std::cout); }

std::string Sequential::summary_string() const {
  std::ostringstream os;
  summary(os);
  return os.str();
}

}  // namespace tilenet::nn
