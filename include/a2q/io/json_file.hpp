#pragma once
/// @file
/// JSON files (metrics, integer-weight export, reports) are nlohmann::ordered_json documents (Debian
/// nlohmann-json3-dev, the library architecture descriptions use too). save_json writes one atomically.
/// Doubles are written in the shortest form that reads back to the same value; NaN and infinities, which
/// JSON cannot represent, are written as null.

#include "a2q/core/config.hpp"

#include <nlohmann/json_fwd.hpp>

#include <filesystem>

namespace a2q::io {

/// Writes `doc` to `path` atomically (see write_file_atomically), followed by a newline.
/// @param indent spaces per level; negative: everything on one line
/// @throws io_error if the file cannot be written
A2Q_DECL void save_json(const std::filesystem::path& path, const nlohmann::ordered_json& doc, int indent = 2);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/json_file.ipp"
#endif
