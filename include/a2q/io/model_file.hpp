#pragma once
/// @file
/// a2q::io::ModelFile: everything needed to rebuild, evaluate, verify and deploy a trained model in one
/// versioned, checksummed binary file: key/value metadata (architecture, quantization policy, seed,
/// command line), the float state dict, and the integer view of every quantized layer. Saved atomically;
/// read with every field validated before anything is allocated from it.
///
/// Layout (integers little-endian two's complement, floats IEEE-754 binary32 little-endian; a string is
/// a u32 byte count then the bytes; a shape is a u32 rank then rank x u64 dimensions):
///
///     offset  size  field
///     0       8     magic "A2QMODEL"
///     8       4     u32 format version (model_file_version)
///     12      4     u32 section count S (3 in version 1, 4 in version 2)
///     16            S sections, each:
///                     4  tag
///                     8  u64 payload length L
///                     L  payload
///                     4  u32 CRC-32 (IEEE, as zlib) of the section's tag, length and payload
///
/// The sections are required, once each, in this order (version 1 has no ARCH); neither version knows
/// optional sections, so any other tag is an error:
///
///     "META"  u32 count, then per entry: key string (1..4096 bytes, unique), value string (at most
///             16 MiB)
///     "ARCH"  version 2: the network's architecture as JSON text (io/architecture.hpp), the whole payload;
///             at most 64 MiB, no NUL bytes; empty for a file that holds no network description
///     "PARM"  u32 count, then per tensor: name string (1..4096 bytes, unique), shape (rank 0..5),
///             numel x f32 in row-major order (the layout of a tensor archive's tensors)
///     "INTL"  u32 count, then per layer:
///               name string (1..4096 bytes, unique)
///               kind string: "linear" or "conv2d"
///               method string: "float", "baseline", "a2q", "a2q+" or "a2q-split" (quant/method.hpp)
///               u64 out_channels C (1..2^48), u64 fan_in K (1..2^48)
///               u32 weight_bits (1..32), u32 input_bits (1..32), u32 accumulator_bits (2..64)
///               u32 flags: bit 0 input_signed, bit 1 bias_in_accumulator, bit 2 has a bias, bit 3 tiled;
///                 others 0
///               if tiled (multi-stage accumulation): u64 tile (1..fan_in), u32 inner_bits
///                 (2..accumulator_bits)
///               weights: shape [C, K], then C·K x i32 in row-major order
///               u64 C, then C x f32 weight_scale (each finite and > 0)
///               f32 input_scale (finite and > 0)
///               if it has a bias: u64 C, then C x i64 bias in accumulator units
///
/// At most 2^20 metadata entries, tensors and layers. Nothing may follow the last section, nor the last
/// entry inside a section.
/// A section's checksum is verified before its payload is decoded, so corruption is reported as such.

#include "a2q/core/assert.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/io/atomic_file.hpp"
#include "a2q/io/binary_codec.hpp"
#include "a2q/io/crc32.hpp"
#include "a2q/io/input_file.hpp"
#include "a2q/io/tensor_archive.hpp"
#include "a2q/nn/integer_layer.hpp"
#include "a2q/quant/method.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace a2q::io {

/// The model file's magic bytes.
inline constexpr std::array<char, 8> model_file_magic = {'A', '2', 'Q', 'M', 'O', 'D', 'E', 'L'};

/// The format version this code writes; it reads this version and older ones.
inline constexpr std::uint32_t model_file_version = 2;

/// A trained model as stored on disk.
struct ModelFile {
  /// Architecture, quantization policy, seed, command line, ... as key/value strings, in file order
  /// (e.g. "model"="mlp", "quant"="a2q+", "acc_bits"="16", "seed"="1").
  std::vector<std::pair<std::string, std::string>> metadata;
  /// The network's architecture as JSON text (io/architecture.hpp); empty in version-1 files, whose
  /// metadata names a recipe instead.
  std::string architecture;
  /// The float state dict.
  NamedTensors parameters;
  /// The integer view of each quantized layer, in forward order.
  std::vector<nn::IntegerLayer> integer_layers;

  /// The value stored under `key`, if any.
  std::optional<std::string> find_metadata(std::string_view key) const {
    for (const auto& [k, v] : metadata)
      if (k == key)
        return v;
    return std::nullopt;
  }

  /// The value stored under `key`.
  /// @throws io_error naming the missing key and the keys present.
  std::string require_metadata(std::string_view key) const {
    if (auto value = find_metadata(key))
      return *value;
    std::string present;
    for (std::size_t i = 0; i < metadata.size() && i < 32; ++i)
      present += (i == 0 ? "" : ", ") + metadata[i].first;
    if (metadata.size() > 32)
      present += ", ...";
    throw io_error("model file metadata has no '" + std::string(key) + "' entry (it holds " +
                   (metadata.empty() ? std::string("no entries") : "the keys " + present) + ")");
  }
};

} // namespace a2q::io

namespace a2q::io::detail {

using SectionTag = std::array<char, 4>;

/// The sections of a version-2 model file, in their required order.
inline constexpr std::array<SectionTag, 4> model_sections = {
    {{'M', 'E', 'T', 'A'}, {'A', 'R', 'C', 'H'}, {'P', 'A', 'R', 'M'}, {'I', 'N', 'T', 'L'}}};

/// Version 1 had no ARCH section.
inline constexpr std::array<SectionTag, 3> model_sections_v1 = {
    {{'M', 'E', 'T', 'A'}, {'P', 'A', 'R', 'M'}, {'I', 'N', 'T', 'L'}}};

/// Largest architecture description.
inline constexpr std::uint64_t max_architecture_bytes = std::uint64_t{64} << 20;

/// Tag and length before a section's payload.
inline constexpr std::uint64_t section_head_bytes = 12;

inline constexpr std::uint32_t layer_flag_input_signed = 1U << 0;

inline constexpr std::uint32_t layer_flag_bias_in_accumulator = 1U << 1;

inline constexpr std::uint32_t layer_flag_has_bias = 1U << 2;

inline constexpr std::uint32_t layer_flag_tiled = 1U << 3;

inline constexpr std::uint32_t layer_known_flags = 0xFU;

/// Fewer bytes than the smallest encoded layer (94: the shortest name, kind and method, the fixed fields
/// and a 1 x 1 weight), so a layer count the remaining bytes cannot hold is rejected up front.
inline constexpr std::uint64_t min_layer_bytes = 64;

/// Largest out_channels or fan_in: Shape's element limit.
inline constexpr std::uint64_t max_layer_dim = shape_max_elements;

/// A tag as text, with bytes outside printable ASCII escaped ("META", "\x00ETA").
inline std::string tag_text(const SectionTag& tag) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (const char ch : tag) {
    const auto b = static_cast<unsigned char>(ch);
    if (b >= 0x20 && b < 0x7F && b != '\\') {
      s += ch;
    } else {
      s += "\\x";
      s += digits[b >> 4];
      s += digits[b & 0xFU];
    }
  }
  return s;
}

/// Shortest text that reads back as the same float (so that error messages show the exact value).
inline std::string float_text(float v) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
  return {buffer.data(), result.ptr};
}

/// Writes one section: tag, length, the payload `body` writes (exactly `length` bytes) and the CRC.
template <class Body>
void write_section(std::ostream& out, const SectionTag& tag, std::uint64_t length, Body&& body) {
  ByteEncoder enc(out);
  enc.bytes(tag.data(), tag.size());
  enc.u64(length);
  body(enc);
  A2Q_ASSERT(enc.written() == section_head_bytes + length);
  const std::uint32_t crc = enc.crc();
  enc.u32(crc);
}

/// `count` little-endian values of T after checking that the payload holds them, so that a corrupt
/// count never reaches the allocator.
template <LittleEndianElement T>
std::vector<T> read_values(ByteDecoder& in, std::uint64_t count, const std::string& label) {
  if (count > in.remaining() / sizeof(T))
    in.fail(label + " needs " + std::to_string(count) + " values (" + std::to_string(count * sizeof(T)) +
            " bytes), but only " + std::to_string(in.remaining()) + " bytes of payload remain");
  std::vector<T> values(static_cast<std::size_t>(count));
  in.array(values.data(), count, label);
  return values;
}

} // namespace a2q::io::detail

namespace a2q::io {

/// Writes `model` to `out` in the model-file format (see the top of this header). The bytes depend only
/// on `model`, so equal models give identical files.
/// @param name_for_errors the file name used in error messages.
/// @throws config_error for contents the reader would reject (empty, over-long or repeated names or keys,
///   an unknown layer kind, bit widths out of range, weights not of shape [out_channels, fan_in], scales
///   or biases not one per channel, scales not finite and > 0), before anything is written.
/// @throws io_error if the stream fails.
A2Q_DECL void write_model_file(std::ostream& out, const ModelFile& model,
                               const std::filesystem::path& name_for_errors);

/// Saves `model` to `path` atomically (see write_file_atomically): a failure, or the process dying at
/// any moment, leaves any previous file intact.
/// @throws config_error for contents the format cannot hold (see write_model_file), checked before the
///   file system is touched; io_error for I/O errors.
A2Q_DECL void save_model_file(const std::filesystem::path& path, const ModelFile& model);

/// Parses a complete model file held in memory, validating everything: magic, version, each section's
/// length and checksum, the section order, then every field. Nothing is allocated from a size that the
/// remaining bytes cannot hold.
/// @param name_for_errors the file name that starts every error message.
/// @throws io_error naming the file, the section and byte offset, and what was expected versus found: for
///   truncation, bad magic, a newer format version, a checksum mismatch, an unknown, repeated, missing or
///   misplaced section, malformed fields, or bytes after the last section.
A2Q_DECL ModelFile parse_model_file(std::span<const unsigned char> bytes,
                                    const std::filesystem::path& name_for_errors);

/// Loads and validates a model file (see parse_model_file).
/// @throws io_error for a missing or unreadable file, and everything parse_model_file rejects.
A2Q_DECL ModelFile load_model_file(const std::filesystem::path& path);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/model_file.ipp"
#endif
