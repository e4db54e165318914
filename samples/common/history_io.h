// Per-epoch training history for the samples: CSV, JSON (Keras's History.history layout) and an SVG
// plot (one panel per metric, train and validation curves, axes, ticks and labels) written with
// plain string formatting, no plotting library.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tilenet::samples {

// Columns in order, one value per epoch each: {"loss", {...}}, {"accuracy", {...}},
// {"val_loss", {...}}, ... All columns have the same length (the number of epochs).
using HistoryColumns = std::vector<std::pair<std::string, std::vector<double>>>;

// "epoch,loss,...\n1,0.5,...\n": epochs numbered from first_epoch; non-finite values as nan/inf.
std::string history_csv(const HistoryColumns& h, int first_epoch = 1);
// {"epoch": [1, 2], "loss": [...], ...}; non-finite values as null.
std::string history_json(const HistoryColumns& h, int first_epoch = 1);
// One panel per name in `metrics` present in h, each with the train curve (name) and, when
// present, the validation curve (val_name). Non-finite points are left out (the line breaks).
std::string history_svg(const HistoryColumns& h, const std::string& title,
                        const std::vector<std::string>& metrics = {"loss", "accuracy"}, int first_epoch = 1);

// Throws std::invalid_argument unless path ends in .csv or .json (call before training, so a
// typo costs nothing).
void check_history_path(const std::string& path);
// Writes path (.csv or .json) and the SVG plot beside it (same name, .svg extension).
// Returns the SVG's path. Throws std::runtime_error naming the file when a write fails.
std::string write_history(const std::string& path, const HistoryColumns& h, const std::string& title,
                          int first_epoch = 1);

// Writes `text` to `path` (throws std::runtime_error naming the file on failure).
void write_text_file(const std::string& path, const std::string& text);

}  // namespace tilenet::samples
