#pragma once
/// @file
/// a2q::train::CsvLogger: a callback that keeps a CSV file with one row per epoch.

#include "a2q/core/config.hpp"
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
///     epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second,train_psnr_db,val_psnr_db
/// (the PSNR columns are empty unless the task is image-to-image, whose losses are then mean squared errors)
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
      "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second,train_psnr_db,"
      "val_psnr_db";

  /// @param path the CSV file, replaced at the first epoch of every fit.
  explicit CsvLogger(std::filesystem::path path) : path_(std::move(path)) {}

  A2Q_DECL void on_train_begin(const TrainInfo& info) override;

  A2Q_DECL void on_epoch_end(const EpochStats& s, const std::optional<EvalResult>& v) override;

  const std::filesystem::path& path() const { return path_; }
  /// The data rows written so far (without the header).
  const std::vector<std::string>& rows() const { return rows_; }

  /// Shortest round-trip text of `v`; "nan", "inf" or "-inf" for non-finite values.
  A2Q_DECL static std::string format(double v);

private:
  // Keeps the rows of epochs 1..last_epoch from an existing file with our header (resume).
  A2Q_DECL void keep_rows_up_to(int last_epoch);

  std::filesystem::path path_;
  std::vector<std::string> rows_;
};

} // namespace a2q::train

#if A2Q_HEADER_ONLY
#include "a2q/train/csv_logger.ipp"
#endif
