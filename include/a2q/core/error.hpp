#pragma once
/// @file
/// The error hierarchy. Every user-facing check throws one of these, with the offending values in the
/// message; internal invariants use A2Q_ASSERT (core/assert.hpp) instead.

#include <stdexcept>
#include <string>

namespace a2q {

/// Root of every exception a2q throws on purpose.
class error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A tensor shape, index or rank does not fit what an operation expects.
class shape_error : public error {
public:
  using error::error;
};

/// A configuration value is out of range or inconsistent (bit widths, layer settings, flags).
class config_error : public error {
public:
  using error::error;
};

/// A file could not be read or written, or its contents are malformed.
class io_error : public error {
public:
  using error::error;
};

/// An integer accumulator or conversion left its representable range.
class overflow_error : public error {
public:
  using error::error;
};

/// The no-overflow guarantee does not hold for a model, or cannot be checked from what it holds: a
/// layer's worst case needs a wider accumulator than the layer claims, or a model file's integer weights
/// are not the ones its parameters give. The message names the layer and the channel; the a2q command
/// exits with status 4 for it, as for a failed proof.
class proof_error : public error {
public:
  using error::error;
};

/// Training diverged (NaN or infinite loss) or another numerical failure happened.
class numeric_error : public error {
public:
  using error::error;
};

/// An internal invariant failed: a bug in a2q, not in the caller's input.
class internal_error : public error {
public:
  using error::error;
};

} // namespace a2q
