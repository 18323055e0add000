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

#include "a2q/core/config.hpp"
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
  A2Q_DECL JsonWriter& key(std::string_view name);

  A2Q_DECL JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  A2Q_DECL JsonWriter& value(bool b);
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
  A2Q_DECL JsonWriter& null();

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
  A2Q_DECL static void write_escaped(std::ostream& out, std::string_view s);

private:
  enum class Scope { object, array };
  struct Level {
    Scope scope;
    bool has_members = false;  ///< something was written in this container
    bool expect_value = false; ///< objects: a key was written, its value is next
  };

  [[noreturn]] static void misuse(const std::string& what) { throw config_error("JsonWriter: " + what); }

  void write_string(std::string_view s) { write_escaped(out_, s); }

  A2Q_DECL void newline_indent(std::size_t depth);

  // Comma and indentation before an array element or an object key.
  A2Q_DECL void separator();

  A2Q_DECL void before_value();

  A2Q_DECL JsonWriter& open(char bracket, Scope scope);

  A2Q_DECL JsonWriter& close(char bracket, Scope scope);

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
A2Q_DECL void write_json_atomically(const std::filesystem::path& path,
                                    const std::function<void(JsonWriter&)>& fn, int indent = 2);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/json_writer.ipp"
#endif
