#pragma once
/// @file
/// write_c_header: an IntegerModel as one self-contained C99 header for microcontrollers: the integer
/// weights (int8_t when they fit), the bias starts, the requantization constants, and plain-loop
/// inference functions that compute exactly what the engine computes:
///
///     void NAME_predict(const float* input, float* logits);      // quantizes the input like training
///     void NAME_predict_q(const int32_t* input_q, float* logits); // input already on the N-bit grid
///
/// Sums are formed in int64_t; the model's proof says which P-bit register would do (NAME_MAX_ACC_BITS).
/// The header states that every layer is proven not to overflow its P-bit accumulator, so the exporter
/// proves it first, from the integer weights and bias it writes, and refuses a model it does not hold for.
/// Requantization is q = clamp(round_half_even((v·m + offset) / 2^point)) in int64_t: the exporter checks
/// with the exact accumulator ranges that no intermediate can exceed 62 bits, and refuses otherwise.
/// Buffers are static (one per program value), so the functions are not reentrant.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/engine/integer_model.hpp"
#include "a2q/io/atomic_file.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace a2q::io {

/// Writes `model` as a C99 header whose identifiers start with `prefix` (see the file comment).
/// @throws proof_error naming the layer and channel when a layer's worst case needs more than its P;
///         config_error when a value cannot be computed exactly in 64-bit C (see the file comment), the
///         input quantizer rounds other than half to even, or the prefix is not a C identifier
A2Q_DECL void write_c_header(std::ostream& out, const engine::IntegerModel& model, const std::string& prefix);

/// write_c_header to `path`, atomically.
A2Q_DECL void save_c_header(const std::filesystem::path& path, const engine::IntegerModel& model,
                            const std::string& prefix);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/c_header.ipp"
#endif
