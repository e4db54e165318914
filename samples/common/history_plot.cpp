#include "samples/common/history_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace tilenet::samples {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string num(double v, int precision = 6) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const std::vector<double>* column(const HistoryColumns& h, const std::string& name) {
  auto it = h.find(name);
  return it == h.end() ? nullptr : &it->second;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` intervals over span.
double nice_step(double span, int target) {
  double raw = span / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

struct Box {
  double x, y, w, h;  // plot area inside the axes, in SVG units
};

void panel(std::ostringstream& os, const Box& b, const std::string& metric, const std::vector<double>* train,
           const std::vector<double>* val, int first_epoch) {
  std::size_t n = train ? train->size() : val->size();
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* v : {train, val})
    if (v)
      for (double x : *v)
        if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) lo -= 0.5 * std::max(std::fabs(lo), 1e-3), hi += 0.5 * std::max(std::fabs(hi), 1e-3);
  double pad = 0.04 * (hi - lo);  // keep points off the frame
  lo -= pad, hi += pad;
  double step = nice_step(hi - lo, 5);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  double x0 = first_epoch, x1 = first_epoch + std::max<double>(1, static_cast<double>(n) - 1);
  auto sx = [&](double e) { return b.x + (e - x0) / (x1 - x0) * b.w; };
  auto sy = [&](double v) { return b.y + b.h - (v - lo) / (hi - lo) * b.h; };

  os << "<text x=\"" << num(b.x) << "\" y=\"" << num(b.y - 8)
     << "\" font-size=\"14\" font-weight=\"bold\">" << escape_xml(metric) << "</text>\n";
  // Grid, y ticks and labels.
  int ticks = static_cast<int>(std::lround((hi - lo) / step));
  for (int k = 0; k <= ticks; ++k) {
    double v = lo + k * step;
    double y = sy(v);
    os << "<line x1=\"" << num(b.x) << "\" y1=\"" << num(y) << "\" x2=\"" << num(b.x + b.w) << "\" y2=\"" << num(y)
       << "\" stroke=\"#e0e0e0\"/>\n";
    os << "<text x=\"" << num(b.x - 6) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\" font-size=\"11\">"
       << num(std::fabs(v) < step * 1e-6 ? 0.0 : v, 4) << "</text>\n";
  }
  // x ticks: integer epochs, at most ~10 labels.
  int every = static_cast<int>(std::ceil(static_cast<double>(n) / 10.0));
  for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); i += static_cast<std::size_t>(std::max(every, 1))) {
    double x = sx(first_epoch + static_cast<double>(i));
    os << "<line x1=\"" << num(x) << "\" y1=\"" << num(b.y + b.h) << "\" x2=\"" << num(x) << "\" y2=\""
       << num(b.y + b.h + 4) << "\" stroke=\"#333\"/>\n";
    os << "<text x=\"" << num(x) << "\" y=\"" << num(b.y + b.h + 17) << "\" text-anchor=\"middle\" font-size=\"11\">"
       << first_epoch + static_cast<int>(i) << "</text>\n";
  }
  os << "<rect x=\"" << num(b.x) << "\" y=\"" << num(b.y) << "\" width=\"" << num(b.w) << "\" height=\"" << num(b.h)
     << "\" fill=\"none\" stroke=\"#333\"/>\n";
  os << "<text x=\"" << num(b.x + b.w / 2) << "\" y=\"" << num(b.y + b.h + 34)
     << "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
  os << "<text transform=\"translate(" << num(b.x - 46) << "," << num(b.y + b.h / 2)
     << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" << escape_xml(metric) << "</text>\n";

  struct Curve {
    const std::vector<double>* v;
    const char* label;
    const char* color;
  };
  double legend_x = b.x + b.w - 170;  // in the header row, right of the title: never over a curve
  for (const Curve& c : {Curve{train, "train", "#1f77b4"}, Curve{val, "validation", "#d62728"}}) {
    if (!c.v) continue;
    std::string pts;
    auto flush = [&] {
      if (!pts.empty())
        os << "<polyline fill=\"none\" stroke=\"" << c.color << "\" stroke-width=\"2\" points=\"" << pts << "\"/>\n";
      pts.clear();
    };
    for (std::size_t i = 0; i < c.v->size(); ++i) {
      double v = (*c.v)[i];
      if (!std::isfinite(v)) {
        flush();
        continue;
      }
      std::string p = num(sx(first_epoch + static_cast<double>(i))) + "," + num(sy(v));
      pts += (pts.empty() ? "" : " ") + p;
      os << "<circle cx=\"" << num(sx(first_epoch + static_cast<double>(i))) << "\" cy=\"" << num(sy(v))
         << "\" r=\"3\" fill=\"" << c.color << "\"/>\n";
    }
    flush();
    double ly = b.y - 6;
    os << "<line x1=\"" << num(legend_x) << "\" y1=\"" << num(ly - 4) << "\" x2=\"" << num(legend_x + 18)
       << "\" y2=\"" << num(ly - 4) << "\" stroke=\"" << c.color << "\" stroke-width=\"2\"/>\n";
    os << "<text x=\"" << num(legend_x + 22) << "\" y=\"" << num(ly) << "\" font-size=\"11\">" << c.label
       << "</text>\n";
    legend_x += 70;
  }
}

}  // namespace

std::string history_svg(const HistoryColumns& h, const std::string& title, const std::vector<std::string>& metrics,
                        int first_epoch) {
  std::vector<std::string> shown;
  std::size_t epochs = 0;
  for (const auto& m : metrics) {
    if (!column(h, m) && !column(h, "val_" + m)) continue;
    shown.push_back(m);
    for (const auto* c : {column(h, m), column(h, "val_" + m)}) {
      if (!c) continue;
      if (epochs && c->size() != epochs) throw std::invalid_argument("history_svg: columns differ in length");
      epochs = c->size();
    }
  }
  const double pw = 440, ph = 330, left = 70, top = 60;
  double width = std::max<double>(1, static_cast<double>(shown.size())) * pw + 20;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width) << "\" height=\"" << num(ph + 20)
     << "\" viewBox=\"0 0 " << num(width) << " " << num(ph + 20) << "\" font-family=\"sans-serif\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"" << num(width / 2) << "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">" << escape_xml(title)
     << "</text>\n";
  for (std::size_t i = 0; i < shown.size(); ++i) {
    Box b{left + pw * static_cast<double>(i), top, pw - left - 20, ph - top - 40};
    panel(os, b, shown[i], column(h, shown[i]), column(h, "val_" + shown[i]), first_epoch);
  }
  if (shown.empty())
    os << "<text x=\"" << num(width / 2) << "\" y=\"" << num(ph / 2) << "\" text-anchor=\"middle\">no data</text>\n";
  os << "</svg>\n";
  return os.str();
}

void check_history_path(const std::string& path) {
  if (!ends_with(path, ".csv") && !ends_with(path, ".json"))
    throw std::invalid_argument("history file '" + path + "' must end in .csv or .json");
}

std::string svg_path_for(const std::string& history_path) {
  check_history_path(history_path);
  return history_path.substr(0, history_path.size() - (ends_with(history_path, ".csv") ? 4 : 5)) + ".svg";
}

}  // namespace tilenet::samples
