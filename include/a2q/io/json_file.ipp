#pragma once
/// @file
/// Definitions for json_file.hpp (see a2q/core/config.hpp).

#include "a2q/io/json_file.hpp"

#include "a2q/io/atomic_file.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <ostream>

namespace a2q::io {

void save_json(const std::filesystem::path& path, const nlohmann::ordered_json& doc, int indent) {
  // error_handler_t::replace: a string that is not UTF-8 is written with U+FFFD rather than refused
  // half-way; the file stays valid JSON.
  const std::string text = doc.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  write_file_atomically(path, [&](std::ostream& out) { out << text << '\n'; });
}

} // namespace a2q::io
