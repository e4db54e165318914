// History CSV/JSON and the SVG plot: well-formed output with the expected pieces.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "samples/common/history_io.h"

using namespace tilenet::samples;

namespace {

HistoryColumns sample_history() {
  return {{"loss", {0.9, 0.5, 0.4}},
          {"accuracy", {0.7, 0.82, 0.86}},
          {"val_loss", {0.6, NAN, 0.45}},
          {"val_accuracy", {0.8, 0.84, 0.85}}};
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST(SamplesHistory, CsvHasHeaderAndOneRowPerEpoch) {
  std::string csv = history_csv(sample_history());
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,loss,accuracy,val_loss,val_accuracy");
  EXPECT_EQ(count(csv, "\n"), 4u);
  EXPECT_NE(csv.find("\n1,0.9,0.7,0.6,0.8\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n3,0.4,"), std::string::npos);
}

TEST(SamplesHistory, JsonIsKerasHistoryLayoutWithNullForNan) {
  std::string js = history_json(sample_history(), 5);
  EXPECT_NE(js.find("\"epoch\": [5, 6, 7]"), std::string::npos) << js;
  EXPECT_NE(js.find("\"val_loss\": [0.6, null, 0.45]"), std::string::npos) << js;
  EXPECT_EQ(count(js, "{"), 1u);
  EXPECT_EQ(count(js, "["), count(js, "]"));
}

TEST(SamplesHistory, SvgHasBothPanelsCurvesAxesAndLabels) {
  std::string svg = history_svg(sample_history(), "mlp on <fashion>");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("mlp on &lt;fashion&gt;"), std::string::npos);  // escaped title
  EXPECT_EQ(count(svg, ">loss</text>"), 2u);                         // panel title + y label
  EXPECT_EQ(count(svg, ">accuracy</text>"), 2u);
  EXPECT_EQ(count(svg, ">epoch</text>"), 2u);
  EXPECT_EQ(count(svg, ">train</text>"), 2u);
  EXPECT_EQ(count(svg, ">validation</text>"), 2u);
  // 12 finite points; the NaN breaks the validation loss line into two polylines.
  EXPECT_EQ(count(svg, "<circle"), 11u);
  EXPECT_EQ(count(svg, "<polyline"), 5u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(count(svg, "<text"), count(svg, "</text>"));
}

TEST(SamplesHistory, SvgCopesWithOneEpochAndFlatCurves) {
  HistoryColumns one{{"loss", {0.5}}, {"accuracy", {1.0}}};
  std::string svg = history_svg(one, "one");
  EXPECT_EQ(count(svg, "<circle"), 2u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(SamplesHistory, WriteHistoryPicksFormatByExtensionAndWritesSvgBeside) {
  std::string base = testing::TempDir() + "samples_history_test";
  std::string svg = write_history(base + ".csv", sample_history(), "t");
  EXPECT_EQ(svg, base + ".svg");
  EXPECT_EQ(slurp(base + ".csv").rfind("epoch,loss", 0), 0u);
  EXPECT_NE(slurp(svg).find("</svg>"), std::string::npos);
  write_history(base + ".json", sample_history(), "t");
  EXPECT_EQ(slurp(base + ".json").rfind("{\"epoch\"", 0), 0u);
  EXPECT_THROW(check_history_path(base + ".txt"), std::invalid_argument);
  EXPECT_THROW(write_history("/nonexistent-dir/h.csv", sample_history(), "t"), std::runtime_error);
  EXPECT_THROW(history_csv({{"a", {1, 2}}, {"b", {1}}}), std::invalid_argument);
  std::remove((base + ".csv").c_str());
  std::remove((base + ".json").c_str());
  std::remove(svg.c_str());
}
