#pragma once
/// @file
/// Definitions for csv_logger.hpp (see a2q/core/config.hpp).

#include "a2q/train/csv_logger.hpp"

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

void CsvLogger::on_train_begin(const TrainInfo& info) {
  rows_.clear();
  if (info.start_epoch > 0)
    keep_rows_up_to(info.start_epoch);
}

void CsvLogger::on_epoch_end(const EpochStats& s, const std::optional<EvalResult>& v) {
  std::string row = std::to_string(s.epoch + 1);
  for (const std::optional<double> value :
       {std::optional<double>(s.lr), std::optional<double>(s.loss), std::optional<double>(s.accuracy),
        v ? std::optional<double>(v->loss) : std::nullopt,
        v ? std::optional<double>(v->accuracy) : std::nullopt, std::optional<double>(s.seconds),
        std::optional<double>(s.samples_per_second), s.psnr_db, v ? v->psnr_db : std::nullopt}) {
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

std::string CsvLogger::format(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
  return std::string(buffer, end);
}

void CsvLogger::keep_rows_up_to(int last_epoch) {
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

} // namespace a2q::train
