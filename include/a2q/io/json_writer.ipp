#pragma once
/// @file
/// Definitions for json_writer.hpp (see a2q/core/config.hpp).

#include "a2q/io/json_writer.hpp"

#include "a2q/core/error.hpp"
#include "a2q/io/atomic_file.hpp"

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace a2q::io {

JsonWriter& JsonWriter::key(std::string_view name) {
  if (stack_.empty() || stack_.back().scope != Scope::object)
    misuse("key(\"" + std::string(name) + "\") outside an object");
  if (stack_.back().expect_value)
    misuse("key(\"" + std::string(name) + "\") where the value of the previous key is expected");
  separator();
  write_string(name);
  out_ << (indent_ > 0 ? ": " : ":");
  stack_.back().expect_value = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  before_value();
  write_string(s);
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  before_value();
  out_ << (b ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ << "null";
  return *this;
}

void JsonWriter::write_escaped(std::ostream& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out << '"';
  for (const char c : s) {
    switch (c) {
    case '"':
      out << "\\\"";
      break;
    case '\\':
      out << "\\\\";
      break;
    case '\b':
      out << "\\b";
      break;
    case '\f':
      out << "\\f";
      break;
    case '\n':
      out << "\\n";
      break;
    case '\r':
      out << "\\r";
      break;
    case '\t':
      out << "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        const auto u = static_cast<unsigned char>(c);
        out << "\\u00" << hex[u >> 4] << hex[u & 0xFU];
      } else {
        out << c;
      }
    }
  }
  out << '"';
}

void JsonWriter::newline_indent(std::size_t depth) {
  if (indent_ == 0)
    return;
  out_ << '\n';
  for (std::size_t i = 0; i < depth * static_cast<std::size_t>(indent_); ++i)
    out_ << ' ';
}

void JsonWriter::separator() {
  Level& level = stack_.back();
  if (level.has_members)
    out_ << ',';
  level.has_members = true;
  newline_indent(stack_.size());
}

void JsonWriter::before_value() {
  if (stack_.empty()) {
    if (wrote_root_)
      misuse("a second top-level value");
    wrote_root_ = true;
    return;
  }
  Level& level = stack_.back();
  if (level.scope == Scope::object) {
    if (!level.expect_value)
      misuse("a value inside an object without a key");
    level.expect_value = false;
  } else {
    separator();
  }
}

JsonWriter& JsonWriter::open(char bracket, Scope scope) {
  before_value();
  out_ << bracket;
  stack_.push_back(Level{scope});
  return *this;
}

JsonWriter& JsonWriter::close(char bracket, Scope scope) {
  const char* name = scope == Scope::object ? "end_object()" : "end_array()";
  if (stack_.empty() || stack_.back().scope != scope)
    misuse(std::string(name) + (stack_.empty() ? " at top level" : " closing the wrong kind of container"));
  if (stack_.back().expect_value)
    misuse(std::string(name) + " after a key without a value");
  const bool had_members = stack_.back().has_members;
  stack_.pop_back();
  if (had_members)
    newline_indent(stack_.size());
  out_ << bracket;
  return *this;
}

void write_json_atomically(const std::filesystem::path& path, const std::function<void(JsonWriter&)>& fn,
                           int indent) {
  write_file_atomically(path, [&](std::ostream& out) {
    JsonWriter writer(out, indent);
    fn(writer);
    if (!writer.complete())
      throw config_error("write_json_atomically " + path.string() + ": the JSON document is incomplete (" +
                         (writer.depth() == 0 ? std::string("no value written")
                                              : std::to_string(writer.depth()) + " unclosed container(s)") +
                         ")");
    out << '\n';
  });
}

} // namespace a2q::io
