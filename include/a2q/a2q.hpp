#pragma once
/// @file
/// Umbrella header: includes the whole of a2q that needs only the standard library and Eigen.
/// Headers that need optional dependencies (fmt, CLI11, zlib) are included on their own.

// clang-format off
#include "a2q/version.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/assert.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/bounds.hpp"
// clang-format on
