#pragma once
/// @file
/// A2Q_ASSERT checks internal invariants (bugs in a2q, never bad user input, which throws a2q::error).
/// Define A2Q_ASSERT before including any a2q header to replace it (e.g. with your own handler, or
/// with a no-op in builds where the checks cost too much). The default throws a2q::internal_error so
/// that tests can observe a failure instead of the process aborting. With a2q::compiled, the library's
/// own checks keep the definition it was built with; a replacement applies to code compiled with it.

#include "a2q/core/error.hpp"

#include <string>

namespace a2q::detail {

[[noreturn]] inline void assertion_failed(const char* expression, const char* file, int line) {
  throw internal_error(std::string("a2q internal assertion failed: ") + expression + " at " + file + ":" +
                       std::to_string(line));
}

} // namespace a2q::detail

#ifndef A2Q_ASSERT
#define A2Q_ASSERT(condition)                                                                                \
  do {                                                                                                       \
    if (!(condition))                                                                                        \
      ::a2q::detail::assertion_failed(#condition, __FILE__, __LINE__);                                       \
  } while (false)
#endif
