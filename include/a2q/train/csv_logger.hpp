#pragma once
/// @file
/// a2q::train::CsvLogger: a callback that keeps a CSV file with one row per epoch.

#include "a2q/io/atomic_file.hpp"
#include "a2q/train/callback.hpp"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace a2q::train {

/// Writes one CSV row per epoch:
///
///     epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second
///     1,0.1,0.6931,0.5,0.6012,0.71,0.25,1024
///
/// Epochs are counted from 1, accuracies are fractions in [0, 1], numbers are written in their shortest
/// round-trip form, and the validation columns are empty without validation. The whole file is rewritten
/// atomically after every epoch, so it is always complete and readable while training runs.
///
/// When a fit resumes at epoch k > 0 (TrainInfo::start_epoch), rows for epochs 1..k of an existing file
/// with the same header are kept and the new epochs are appended after them.
class CsvLogger : public Callback {
public:
  /// The header line (without the newline).
  static constexpr const char* header =
      "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second";

  /// @param path the CSV file, replaced at the first epoch of every fit.
  explicit CsvLogger(std::filesystem::path path) : path_(std::move(path)) {}

  void on_train_begin(const TrainInfo& info) override {
    rows_.clear();
    if (info.start_epoch > 0)
      keep_rows_up_to(info.start_epoch);
  }

  void on_epoch_end(const EpochStats& s, const std::optional<EvalResult>& v) override {
    std::string row = std::to_string(s.epoch + 1);
    for (const std::optional<double> value :
         {std::optional<double>(s.lr), std::optional<double>(s.loss), std::optional<double>(s.accuracy),
          v ? std::optional<double>(v->loss) : std::nullopt,
          v ? std::optional<double>(v->accuracy) : std::nullopt, std::optional<double>(s.seconds),
          std::optional<double>(s.samples_per_second)}) {
      row += ',';
      if (value)
        row += format(*value);
    }
    rows_.push_back(std::move(row));
    io::write_file_atomically(path_, [&](std::ostream& out) {
      out << header << '\n';
      for (const std::string& r : rows_)
        out << r << '\n';
    });
  }

  const std::filesystem::path& path() const { return path_; }
  /// The data rows written so far (without the header).
  const std::vector<std::string>& rows() const { return rows_; }

  /// Shortest round-trip text of `v`; "nan", "inf" or "-inf" for non-finite values.
  static std::string format(double v) {
    if (std::isnan(v))
      return "nan";
    if (std::isinf(v))
      return v > 0 ? "inf" : "-inf";
    char buffer[64];
    const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
    return std::string(buffer, end);
  }

private:
  // Keeps the rows of epochs 1..last_epoch from an existing file with our header (resume).
  void keep_rows_up_to(int last_epoch) {
    std::ifstream in(path_);
    std::string line;
    if (!in || !std::getline(in, line) || line != header)
      return;
    while (std::getline(in, line)) {
      int epoch = 0;
      const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), epoch);
      if (ec != std::errc() || end == line.data() + line.size() || *end != ',')
        break;
      if (epoch > last_epoch)
        break;
      rows_.push_back(line);
    }
  }

  std::filesystem::path path_;
  std::vector<std::string> rows_;
};

} // namespace a2q::train
