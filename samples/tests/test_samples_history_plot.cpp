// The SVG history plot: well-formed output with both panels, curves, axes, labels and legend.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "samples/common/history_plot.h"

using namespace tilenet::samples;

namespace {

HistoryColumns sample_history() {
  return {{"loss", {0.9, 0.5, 0.4}},
          {"accuracy", {0.7, 0.82, 0.86}},
          {"val_loss", {0.6, NAN, 0.45}},
          {"val_accuracy", {0.8, 0.84, 0.85}},
          {"epoch_time_s", {1.0, 1.0, 1.0}}};
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(SamplesHistoryPlot, SvgHasBothPanelsCurvesAxesAndLabels) {
  std::string svg = history_svg(sample_history(), "mlp on <fashion>");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("mlp on &lt;fashion&gt;"), std::string::npos);  // escaped title
  EXPECT_EQ(count(svg, ">loss</text>"), 2u);                         // panel title + y label
  EXPECT_EQ(count(svg, ">accuracy</text>"), 2u);
  EXPECT_EQ(count(svg, ">epoch</text>"), 2u);
  EXPECT_EQ(count(svg, ">train</text>"), 2u);
  EXPECT_EQ(count(svg, ">validation</text>"), 2u);
  EXPECT_EQ(count(svg, "epoch_time_s"), 0u);  // only the metrics asked for
  // 11 finite points; the NaN breaks the validation loss line into two polylines.
  EXPECT_EQ(count(svg, "<circle"), 11u);
  EXPECT_EQ(count(svg, "<polyline"), 5u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(count(svg, "<text"), count(svg, "</text>"));
  // x ticks label the epochs, starting where asked.
  EXPECT_NE(history_svg(sample_history(), "t", {"loss"}, 5).find(">7</text>"), std::string::npos);
}

TEST(SamplesHistoryPlot, CopesWithOneEpochFlatCurvesAndMissingMetrics) {
  HistoryColumns one{{"loss", {0.5}}, {"accuracy", {1.0}}};
  std::string svg = history_svg(one, "one");
  EXPECT_EQ(count(svg, "<circle"), 2u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_NE(history_svg({}, "empty").find("no data"), std::string::npos);
  EXPECT_THROW(history_svg({{"loss", {1, 2}}, {"val_loss", {1}}}, "t"), std::invalid_argument);
}

TEST(SamplesHistoryPlot, HistoryPathsNeedCsvOrJsonAndPlotGoesBeside) {
  EXPECT_EQ(svg_path_for("runs/a.csv"), "runs/a.svg");
  EXPECT_EQ(svg_path_for("b.json"), "b.svg");
  EXPECT_NO_THROW(check_history_path("x.csv"));
  EXPECT_THROW(check_history_path("x.txt"), std::invalid_argument);
  EXPECT_THROW(check_history_path("csv"), std::invalid_argument);
}
