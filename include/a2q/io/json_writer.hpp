#pragma once
/// @file
/// a2q::io::JsonWriter: a small streaming JSON writer (metrics files, integer-weight export), and
/// write_json_atomically to produce a whole JSON file atomically.
///
///     JsonWriter w(os);
///     w.begin_object();
///     w.key("test_accuracy").value(0.91);
///     w.key("layers").begin_array().value("fc1").value("fc2").end_array();
///     w.end_object();
///
/// Misuse (a value where a key is expected, end_array closing an object, a second top-level value,
/// ...) throws config_error at once, so a malformed document is never produced silently.

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

/// Streaming JSON writer. Strings are written as UTF-8 with '"', '\\' and control characters escaped;
/// other bytes pass through unchanged (give it UTF-8). Doubles are written in the shortest form that
/// reads back to the same value; NaN and infinities, which JSON cannot represent, are written as null.
class JsonWriter {
public:
  /// @param out the stream to write to; it must outlive the writer.
  /// @param indent spaces per nesting level; 0 writes everything on one line without spaces.
  explicit JsonWriter(std::ostream& out, int indent = 0) : out_(out), indent_(indent < 0 ? 0 : indent) {}

  JsonWriter& begin_object() { return open('{', Scope::object); }
  JsonWriter& end_object() { return close('}', Scope::object); }
  JsonWriter& begin_array() { return open('[', Scope::array); }
  JsonWriter& end_array() { return close(']', Scope::array); }

  /// The key of the next member; only inside an object, before each value.
  JsonWriter& key(std::string_view name) {
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

  JsonWriter& value(std::string_view s) {
    before_value();
    write_string(s);
    return *this;
  }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    before_value();
    out_ << (b ? "true" : "false");
    return *this;
  }
  JsonWriter& value(std::nullptr_t) { return null(); }
  /// A single character, written as a one-character string (not as a number or a bool).
  JsonWriter& value(char c) { return value(std::string_view(&c, 1)); }
  /// Any integer type except bool and character types, written exactly.
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) JsonWriter& value(T v) {
    before_value();
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
    out_.write(buffer, result.ptr - buffer);
    return *this;
  }
  /// A float or double, in the shortest form that reads back to the same value of its type; null for
  /// NaN and infinities.
  template <std::floating_point T>
  JsonWriter& value(T v) {
    before_value();
    if (!std::isfinite(v)) {
      out_ << "null";
      return *this;
    }
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
    const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
    out_ << text;
    // Keep whole numbers recognisable as floating point ("1.0", not "1").
    if (text.find_first_of(".e") == std::string_view::npos)
      out_ << ".0";
    return *this;
  }
  JsonWriter& null() {
    before_value();
    out_ << "null";
    return *this;
  }

  /// Shorthand for key(name).value(v).
  template <class T>
  JsonWriter& member(std::string_view name, const T& v) {
    return key(name).value(v);
  }

  /// True once exactly one complete top-level value has been written.
  bool complete() const { return stack_.empty() && wrote_root_; }
  /// Current nesting depth (0 at top level).
  std::size_t depth() const { return stack_.size(); }

  /// Writes `s` as a quoted, escaped JSON string to `out`.
  static void write_escaped(std::ostream& out, std::string_view s) {
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

private:
  enum class Scope { object, array };
  struct Level {
    Scope scope;
    bool has_members = false;  ///< something was written in this container
    bool expect_value = false; ///< objects: a key was written, its value is next
  };

  [[noreturn]] static void misuse(const std::string& what) { throw config_error("JsonWriter: " + what); }

  void write_string(std::string_view s) { write_escaped(out_, s); }

  void newline_indent(std::size_t depth) {
    if (indent_ == 0)
      return;
    out_ << '\n';
    for (std::size_t i = 0; i < depth * static_cast<std::size_t>(indent_); ++i)
      out_ << ' ';
  }

  // Comma and indentation before an array element or an object key.
  void separator() {
    Level& level = stack_.back();
    if (level.has_members)
      out_ << ',';
    level.has_members = true;
    newline_indent(stack_.size());
  }

  void before_value() {
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

  JsonWriter& open(char bracket, Scope scope) {
    before_value();
    out_ << bracket;
    stack_.push_back(Level{scope});
    return *this;
  }

  JsonWriter& close(char bracket, Scope scope) {
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

  std::ostream& out_;
  int indent_;
  std::vector<Level> stack_;
  bool wrote_root_ = false;
};

/// Writes a JSON file atomically (see write_file_atomically): `fn` writes one complete value with the
/// JsonWriter it is given; a trailing newline is added.
/// @param indent spaces per level (2 by default, for files people read).
/// @throws config_error if `fn` leaves the document incomplete; io_error for I/O errors. `fn`'s own
///   exceptions propagate; in every failure case a previous file at `path` is left intact.
inline void write_json_atomically(const std::filesystem::path& path,
                                  const std::function<void(JsonWriter&)>& fn, int indent = 2) {
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
