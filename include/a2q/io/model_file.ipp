#pragma once
/// @file
/// Definitions for model_file.hpp (see a2q/core/config.hpp).

#include "a2q/io/model_file.hpp"

#include "a2q/core/assert.hpp"
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

namespace a2q::io::detail {

inline bool known_layer_kind(std::string_view kind) {
  return kind == "linear" || kind == "conv2d";
}

inline std::optional<quant::QuantMethod> find_quant_method(std::string_view name) {
  for (const quant::QuantMethod m : quant::all_quant_methods)
    if (name == quant::to_string(m))
      return m;
  return std::nullopt;
}

inline bool valid_scale(float s) {
  return std::isfinite(s) && s > 0.0f;
}

/// Checks a layer as the reader will, so that a writer never produces a file that cannot be loaded.
/// @return the layer's encoded size.
inline std::uint64_t integer_layer_size(const nn::IntegerLayer& layer, std::set<std::string_view>& names,
                                        const std::string& who) {
  check_entry_name(layer.name, "layer name", names, who);
  const std::string label = who + "layer '" + layer.name + "': ";
  if (!known_layer_kind(layer.kind))
    throw config_error(label + "unknown layer kind '" + layer.kind + "', expected linear or conv2d");
  const std::string_view method = quant::to_string(layer.method);
  if (!find_quant_method(method))
    throw config_error(label + "invalid quantization method (enum value " +
                       std::to_string(static_cast<int>(layer.method)) + ")");
  auto check_range = [&](std::int64_t value, const char* what, std::int64_t lo, std::uint64_t hi) {
    if (value < lo || static_cast<std::uint64_t>(value) > hi)
      throw config_error(label + what + " is " + std::to_string(value) + ", expected " + std::to_string(lo) +
                         ".." + std::to_string(hi));
  };
  check_range(layer.out_channels, "out_channels", 1, max_layer_dim);
  check_range(layer.fan_in, "fan_in", 1, max_layer_dim);
  check_range(layer.weight_bits, "weight_bits", 1, 32);
  check_range(layer.input_bits, "input_bits", 1, 32);
  check_range(layer.accumulator_bits, "accumulator_bits", 2, 64);
  if (layer.tiled() || layer.inner_bits != 0) {
    check_range(layer.tile, "tile", 1, static_cast<std::uint64_t>(layer.fan_in));
    check_range(layer.inner_bits, "inner_bits", 2, static_cast<std::uint64_t>(layer.accumulator_bits));
  }
  const auto channels = static_cast<std::uint64_t>(layer.out_channels);
  if (layer.weights.rank() != 2 || layer.weights.shape()[0] != layer.out_channels ||
      layer.weights.shape()[1] != layer.fan_in)
    throw config_error(label + "weights have shape " + layer.weights.shape().to_string() + ", expected [" +
                       std::to_string(layer.out_channels) + ", " + std::to_string(layer.fan_in) +
                       "] (out_channels, fan_in)");
  if (layer.weight_scale.size() != channels)
    throw config_error(label + std::to_string(layer.weight_scale.size()) + " weight scales, expected " +
                       std::to_string(channels) + " (one per output channel)");
  for (std::size_t c = 0; c < layer.weight_scale.size(); ++c)
    if (!valid_scale(layer.weight_scale[c]))
      throw config_error(label + "weight_scale of channel " + std::to_string(c) + " is " +
                         float_text(layer.weight_scale[c]) + ", expected a finite value > 0");
  if (!valid_scale(layer.input_scale))
    throw config_error(label + "input_scale is " + float_text(layer.input_scale) +
                       ", expected a finite value > 0");
  if (layer.bias && layer.bias->size() != channels)
    throw config_error(label + std::to_string(layer.bias->size()) + " bias values, expected " +
                       std::to_string(channels) + " (one per output channel)");
  return 4 + layer.name.size() + 4 + layer.kind.size() + 4 + method.size() + 8 + 8 + 4 * 4 + 4 + 2 * 8 +
         (layer.tiled() ? 8 + 4 : 0) + 4 * static_cast<std::uint64_t>(layer.weights.numel()) + 8 +
         4 * channels + 4 + (layer.bias ? 8 + 8 * channels : 0);
}

/// Validates the whole model as the reader will and returns each section's payload length.
inline std::array<std::uint64_t, 4> model_section_sizes(const ModelFile& model, const std::string& who) {
  check_entry_count(model.integer_layers.size(), "integer layers", who);
  std::uint64_t layers = 4;
  std::set<std::string_view> names;
  for (const nn::IntegerLayer& layer : model.integer_layers)
    layers += integer_layer_size(layer, names, who);
  if (model.architecture.size() > max_architecture_bytes)
    throw config_error(who + "the architecture description has " + std::to_string(model.architecture.size()) +
                       " bytes, more than the format's " + std::to_string(max_architecture_bytes));
  if (model.architecture.find('\0') != std::string::npos)
    throw config_error(who + "the architecture description contains a NUL byte");
  return {metadata_section_size(model.metadata, who), model.architecture.size(),
          tensor_section_size(model.parameters, who), layers};
}

inline void write_integer_layer(ByteEncoder& enc, const nn::IntegerLayer& layer) {
  enc.string(layer.name);
  enc.string(layer.kind);
  enc.string(quant::to_string(layer.method));
  enc.u64(static_cast<std::uint64_t>(layer.out_channels));
  enc.u64(static_cast<std::uint64_t>(layer.fan_in));
  enc.u32(static_cast<std::uint32_t>(layer.weight_bits));
  enc.u32(static_cast<std::uint32_t>(layer.input_bits));
  enc.u32(static_cast<std::uint32_t>(layer.accumulator_bits));
  enc.u32((layer.input_signed ? layer_flag_input_signed : 0U) |
          (layer.bias_in_accumulator ? layer_flag_bias_in_accumulator : 0U) |
          (layer.bias ? layer_flag_has_bias : 0U) | (layer.tiled() ? layer_flag_tiled : 0U));
  if (layer.tiled()) {
    enc.u64(static_cast<std::uint64_t>(layer.tile));
    enc.u32(static_cast<std::uint32_t>(layer.inner_bits));
  }
  enc.shape(layer.weights.shape());
  enc.array(layer.weights.span());
  enc.u64(layer.weight_scale.size());
  enc.array(std::span<const float>(layer.weight_scale));
  enc.f32(layer.input_scale);
  if (layer.bias) {
    enc.u64(layer.bias->size());
    enc.array(std::span<const std::int64_t>(*layer.bias));
  }
}

/// A u64 element count that must equal `expected`; `label` names the array.
inline void read_count_equal(ByteDecoder& in, std::uint64_t expected, const std::string& label) {
  const std::uint64_t at = in.pos();
  const std::uint64_t n = in.u64("the number of " + label);
  if (n != expected)
    in.fail_at(at, "the number of " + label + " is " + std::to_string(n) + ", expected " +
                       std::to_string(expected) + " (out_channels)");
}

inline nn::IntegerLayer read_integer_layer(ByteDecoder& in, std::uint32_t index,
                                           std::set<std::string>& names) {
  nn::IntegerLayer layer;
  const std::uint64_t at = in.pos();
  layer.name = in.string("the name of layer " + std::to_string(index), tensor_archive_max_name_bytes, false);
  const std::string label = "layer " + std::to_string(index) + " ('" + layer.name + "')";
  if (!names.insert(layer.name).second)
    in.fail_at(at, label + ": name appears more than once");

  const std::uint64_t kind_at = in.pos();
  layer.kind = in.string("the kind of " + label, tensor_archive_max_name_bytes, false);
  if (!known_layer_kind(layer.kind))
    in.fail_at(kind_at,
               label + ": unknown layer kind '" + layer.kind.substr(0, 64) + "', expected linear or conv2d");
  const std::uint64_t method_at = in.pos();
  const std::string method = in.string("the method of " + label, tensor_archive_max_name_bytes, false);
  const std::optional<quant::QuantMethod> parsed = find_quant_method(method);
  if (!parsed)
    in.fail_at(method_at, label + ": unknown quantization method '" + method.substr(0, 64) +
                              "', expected one of float, baseline, a2q, a2q+, a2q-split");
  layer.method = *parsed;

  auto read_u64_in = [&](const char* what, std::uint64_t lo, std::uint64_t hi) {
    const std::uint64_t field_at = in.pos();
    const std::uint64_t v = in.u64(std::string("the ") + what + " of " + label);
    if (v < lo || v > hi)
      in.fail_at(field_at, label + ": " + what + " is " + std::to_string(v) + ", expected " +
                               std::to_string(lo) + ".." + std::to_string(hi));
    return static_cast<std::int64_t>(v);
  };
  auto read_u32_in = [&](const char* what, std::uint32_t lo, std::uint32_t hi) {
    const std::uint64_t field_at = in.pos();
    const std::uint32_t v = in.u32(std::string("the ") + what + " of " + label);
    if (v < lo || v > hi)
      in.fail_at(field_at, label + ": " + what + " is " + std::to_string(v) + ", expected " +
                               std::to_string(lo) + ".." + std::to_string(hi));
    return static_cast<int>(v);
  };
  layer.out_channels = read_u64_in("out_channels", 1, max_layer_dim);
  layer.fan_in = read_u64_in("fan_in", 1, max_layer_dim);
  layer.weight_bits = read_u32_in("weight_bits", 1, 32);
  layer.input_bits = read_u32_in("input_bits", 1, 32);
  layer.accumulator_bits = read_u32_in("accumulator_bits", 2, 64);
  const std::uint64_t flags_at = in.pos();
  const std::uint32_t flags = in.u32("the flags of " + label);
  if ((flags & ~layer_known_flags) != 0)
    in.fail_at(flags_at, label + ": flags are " + hex32(flags) + ", expected only bits 0..3 (" +
                             hex32(layer_known_flags) + ")");
  layer.input_signed = (flags & layer_flag_input_signed) != 0;
  layer.bias_in_accumulator = (flags & layer_flag_bias_in_accumulator) != 0;
  if ((flags & layer_flag_tiled) != 0) {
    layer.tile = read_u64_in("tile", 1, static_cast<std::uint64_t>(layer.fan_in));
    layer.inner_bits = read_u32_in("inner_bits", 2, static_cast<std::uint32_t>(layer.accumulator_bits));
  }

  const std::uint64_t shape_at = in.pos();
  const Shape shape = in.shape("the weights of " + label);
  // Compared dimension by dimension: [C, K] itself may exceed Shape's element limit.
  if (shape.rank() != 2 || shape[0] != layer.out_channels || shape[1] != layer.fan_in)
    in.fail_at(shape_at, label + ": weights have shape " + shape.to_string() + ", expected [" +
                             std::to_string(layer.out_channels) + ", " + std::to_string(layer.fan_in) +
                             "] (out_channels, fan_in)");
  const auto numel = static_cast<std::uint64_t>(shape.numel());
  if (numel > in.remaining() / 4)
    in.fail(label + ": the weights need " + std::to_string(numel) + " values (" + std::to_string(numel * 4) +
            " bytes), but only " + std::to_string(in.remaining()) + " bytes of payload remain");
  layer.weights = Tensor<std::int32_t>::uninitialized(shape);
  in.array(layer.weights.data(), numel, "the weights of " + label);

  const auto channels = static_cast<std::uint64_t>(layer.out_channels);
  read_count_equal(in, channels, "weight scales of " + label);
  const std::uint64_t scales_at = in.pos();
  layer.weight_scale = read_values<float>(in, channels, "the weight scales of " + label);
  for (std::size_t c = 0; c < layer.weight_scale.size(); ++c)
    if (!valid_scale(layer.weight_scale[c]))
      in.fail_at(scales_at + 4 * c, label + ": weight_scale of channel " + std::to_string(c) + " is " +
                                        float_text(layer.weight_scale[c]) + ", expected a finite value > 0");
  const std::uint64_t input_scale_at = in.pos();
  layer.input_scale = in.f32("the input_scale of " + label);
  if (!valid_scale(layer.input_scale))
    in.fail_at(input_scale_at,
               label + ": input_scale is " + float_text(layer.input_scale) + ", expected a finite value > 0");

  if ((flags & layer_flag_has_bias) != 0) {
    read_count_equal(in, channels, "bias values of " + label);
    layer.bias = read_values<std::int64_t>(in, channels, "the bias of " + label);
  }
  return layer;
}

inline std::vector<nn::IntegerLayer> read_integer_layers(ByteDecoder& in) {
  const std::uint32_t count = read_entry_count(in, "integer layers", min_layer_bytes);
  std::vector<nn::IntegerLayer> layers;
  layers.reserve(count);
  std::set<std::string> names;
  for (std::uint32_t i = 0; i < count; ++i)
    layers.push_back(read_integer_layer(in, i, names));
  return layers;
}

} // namespace a2q::io::detail

namespace a2q::io {

void write_model_file(std::ostream& out, const ModelFile& model,
                      const std::filesystem::path& name_for_errors) {
  const std::array<std::uint64_t, 4> sizes =
      detail::model_section_sizes(model, "write_model_file " + name_for_errors.string() + ": ");
  out.write(model_file_magic.data(), static_cast<std::streamsize>(model_file_magic.size()));
  detail::ByteEncoder header(out);
  header.u32(model_file_version);
  header.u32(static_cast<std::uint32_t>(detail::model_sections.size()));
  detail::write_section(out, detail::model_sections[0], sizes[0], [&](detail::ByteEncoder& enc) {
    detail::write_metadata_section(enc, model.metadata);
  });
  detail::write_section(out, detail::model_sections[1], sizes[1], [&](detail::ByteEncoder& enc) {
    enc.bytes(model.architecture.data(), model.architecture.size());
  });
  detail::write_section(out, detail::model_sections[2], sizes[2], [&](detail::ByteEncoder& enc) {
    detail::write_tensor_section(enc, model.parameters);
  });
  detail::write_section(out, detail::model_sections[3], sizes[3], [&](detail::ByteEncoder& enc) {
    enc.u32(static_cast<std::uint32_t>(model.integer_layers.size()));
    for (const nn::IntegerLayer& layer : model.integer_layers)
      detail::write_integer_layer(enc, layer);
  });
  if (!out)
    throw io_error(name_for_errors.string() + ": writing the model file failed");
}

void save_model_file(const std::filesystem::path& path, const ModelFile& model) {
  detail::model_section_sizes(model, "save_model_file " + path.string() + ": ");
  write_file_atomically(path, [&](std::ostream& out) { write_model_file(out, model, path); });
}

ModelFile parse_model_file(std::span<const unsigned char> bytes,
                           const std::filesystem::path& name_for_errors) {
  const std::string file = name_for_errors.string();
  const std::uint64_t size = bytes.size();
  std::uint64_t pos = 0;
  auto require = [&](std::uint64_t n, const std::string& what) {
    if (n > size - pos)
      throw io_error(file + ": truncated at byte " + std::to_string(size) + " while reading " + what + " (" +
                     std::to_string(n) + " bytes at byte " + std::to_string(pos) + ")");
  };

  const std::size_t magic_seen = std::min<std::size_t>(bytes.size(), model_file_magic.size());
  if (magic_seen > 0 && std::memcmp(bytes.data(), model_file_magic.data(), magic_seen) != 0)
    throw io_error(file + ": not an a2q model file: bad magic at byte 0, expected \"A2QMODEL\"");
  require(model_file_magic.size(), "the magic \"A2QMODEL\"");
  pos += model_file_magic.size();
  require(4, "the format version");
  const std::uint32_t version = detail::load_u32_le(bytes.data() + pos);
  if (version == 0)
    throw io_error(file + ": header at byte 8: format version 0 is invalid, expected 1.." +
                   std::to_string(model_file_version));
  if (version > model_file_version)
    throw io_error(file + ": header at byte 8: written by a newer a2q (format version " +
                   std::to_string(version) + ", this build reads up to " +
                   std::to_string(model_file_version) + ")");
  pos += 4;
  require(4, "the section count");
  const std::uint32_t count = detail::load_u32_le(bytes.data() + pos);
  pos += 4;

  // Version 1 had no ARCH section; the rest of the format is the same.
  const std::span<const detail::SectionTag> expected =
      version == 1 ? std::span<const detail::SectionTag>(detail::model_sections_v1)
                   : std::span<const detail::SectionTag>(detail::model_sections);
  std::string order;
  for (const detail::SectionTag& t : expected)
    order += (order.empty() ? "" : ", ") + detail::tag_text(t);
  ModelFile model;
  std::array<std::optional<std::uint64_t>, detail::model_sections.size()> seen_at{};
  std::size_t next = 0; // index of the section expected next
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t at = pos;
    const std::string nth = std::to_string(i + 1) + " of " + std::to_string(count);
    require(4, "the tag of section " + nth);
    detail::SectionTag tag{};
    std::memcpy(tag.data(), bytes.data() + pos, tag.size());
    const std::string name = detail::tag_text(tag);
    const std::string section = "section " + name + " (" + nth + ")";
    pos += 4;
    require(8, "the payload length of " + section);
    const std::uint64_t length = detail::load_u64_le(bytes.data() + pos);
    pos += 8;
    if (length > size - pos)
      throw io_error(file + ": truncated at byte " + std::to_string(size) + " while reading the payload of " +
                     section + ": its length at byte " + std::to_string(at + 4) + " is " +
                     std::to_string(length) + " bytes, but only " + std::to_string(size - pos) +
                     " bytes follow");
    const std::span<const unsigned char> payload =
        bytes.subspan(static_cast<std::size_t>(pos), static_cast<std::size_t>(length));
    pos += length;
    require(4, "the checksum of " + section);
    const std::uint32_t stored = detail::load_u32_le(bytes.data() + pos);
    const std::uint32_t computed =
        crc32(bytes.data() + at, static_cast<std::size_t>(detail::section_head_bytes + length));
    if (computed != stored)
      throw io_error(file + ": section " + name + " at byte " + std::to_string(at) + ": checksum " +
                     detail::hex32(computed) + " of its " +
                     std::to_string(detail::section_head_bytes + length) +
                     " bytes does not match the stored " + detail::hex32(stored) + " at byte " +
                     std::to_string(pos) + " (the file is corrupt)");
    pos += 4;

    const std::string where = file + ": section " + name + " at byte " + std::to_string(at) + ": ";
    std::size_t index = 0;
    while (index < expected.size() && expected[index] != tag)
      ++index;
    if (index == expected.size())
      throw io_error(where + "unknown section tag, expected one of " + order + " (format version " +
                     std::to_string(version) + " has no optional sections)");
    if (seen_at[index])
      throw io_error(where + "duplicate section, the first is at byte " + std::to_string(*seen_at[index]));
    if (index != next)
      throw io_error(where + "out of order, expected section " + detail::tag_text(expected[next]) +
                     " here (the order is " + order + ")");
    seen_at[index] = at;
    ++next;

    detail::ByteDecoder in(payload, file + ": section " + name + " at byte ",
                           at + detail::section_head_bytes);
    const detail::SectionTag& kind = expected[index];
    if (kind == detail::model_sections[0]) {
      model.metadata = detail::read_metadata_section(in);
    } else if (kind == detail::model_sections[1]) {
      if (length > detail::max_architecture_bytes)
        in.fail("the architecture description has " + std::to_string(length) + " bytes, expected at most " +
                std::to_string(detail::max_architecture_bytes));
      model.architecture.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
      if (const auto nul = model.architecture.find('\0'); nul != std::string::npos)
        throw io_error(where + "a NUL byte at byte " + std::to_string(at + detail::section_head_bytes + nul) +
                       " of the architecture description, expected JSON text");
      continue; // the whole payload is the text
    } else if (kind == detail::model_sections[2]) {
      model.parameters = detail::read_tensor_section(in);
    } else {
      model.integer_layers = detail::read_integer_layers(in);
    }
    if (in.remaining() != 0)
      in.fail(std::to_string(in.remaining()) +
              " unexpected bytes after the last entry, expected the end of the section");
  }
  if (next < expected.size())
    throw io_error(file + ": the section count at byte 12 is " + std::to_string(count) + ", so section " +
                   detail::tag_text(expected[next]) + " is missing (a version " + std::to_string(version) +
                   " model file holds " + order + ")");
  if (pos != size)
    throw io_error(file + ": " + std::to_string(size - pos) + " unexpected bytes at byte " +
                   std::to_string(pos) + " after the last section, expected the end of the file");
  return model;
}

ModelFile load_model_file(const std::filesystem::path& path) {
  const std::string who = path.string() + ": ";
  detail::InputFile file = detail::open_input_file(path, "an a2q model file");
  std::ifstream& in = file.stream;
  const std::uint64_t file_size = file.size;
  // The buffer is as large as the file on disk, and no larger.
  std::vector<unsigned char> bytes(static_cast<std::size_t>(file_size));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    throw io_error(who + "read error at byte " + std::to_string(static_cast<std::uint64_t>(in.gcount())) +
                   " of " + std::to_string(file_size) + " (the file changed while being read?)");
  return parse_model_file(bytes, path);
}

} // namespace a2q::io
