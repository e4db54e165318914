// The training history as an SVG plot for the samples: one panel per metric with the train and
// validation curves, axes, ticks, labels and a legend, written with plain string formatting (no
// plotting library). The CSV/JSON files themselves come from nn::History (to_csv, to_json).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tilenet::samples {

// Per-epoch values by name, as nn::History::history holds them: "loss", "accuracy", "val_loss"...
using HistoryColumns = std::map<std::string, std::vector<double>>;

// One panel per name in `metrics` present in h, each with the train curve (name) and, when
// present, the validation curve (val_name); the x axis counts epochs from first_epoch.
// Non-finite points are left out (the line breaks). Throws std::invalid_argument when the shown
// columns differ in length.
std::string history_svg(const HistoryColumns& h, const std::string& title,
                        const std::vector<std::string>& metrics = {"loss", "accuracy"}, int first_epoch = 1);

// Throws std::invalid_argument unless path ends in .csv or .json (call before training, so a
// typo costs nothing).
void check_history_path(const std::string& path);
// The plot's path beside the history file: "run.csv" -> "run.svg".
std::string svg_path_for(const std::string& history_path);

}  // namespace tilenet::samples
