#include "a2q/io/model_file.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

using a2q::config_error;
using a2q::io_error;
using a2q::Shape;
using a2q::Tensor;
using a2q::io::load_model_file;
using a2q::io::ModelFile;
using a2q::io::parse_model_file;
using a2q::io::save_model_file;
using a2q::io::write_model_file;
using a2q::nn::IntegerLayer;
using a2q::quant::QuantMethod;
using a2q_test::read_all;
using a2q_test::ScratchDir;
using a2q_test::write_all;
using Catch::Matchers::Contains;
using Bytes = std::vector<unsigned char>;

namespace {

constexpr std::int32_t i32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t i32_max = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();

// A linear layer with extreme values everywhere: weights at the int32 limits, a denormal and the largest
// float as scales, a bias at the int64 limits.
IntegerLayer extreme_linear() {
  IntegerLayer l;
  l.name = "fc1";
  l.kind = "linear";
  l.method = QuantMethod::a2q_plus;
  l.out_channels = 3;
  l.fan_in = 4;
  l.weight_bits = 32;
  l.input_bits = 8;
  l.input_signed = false;
  l.accumulator_bits = 16;
  l.bias_in_accumulator = true;
  l.weights = Tensor<std::int32_t>({3, 4}, {i32_min, i32_max, -1, 0, 1, -2, 3, -4, 0, 0, i32_max, i32_min});
  l.weight_scale = {0.5f, 1e-40f, std::numeric_limits<float>::max()};
  l.input_scale = 0.0078125f;
  l.bias = std::vector<std::int64_t>{i64_min, 0, i64_max};
  return l;
}

// A conv layer without a bias: K = C_in/groups · kh · kw = 2 · 3 · 3.
IntegerLayer conv_no_bias() {
  IntegerLayer l;
  l.name = "block.conv1";
  l.kind = "conv2d";
  l.method = QuantMethod::baseline;
  l.out_channels = 2;
  l.fan_in = 18;
  l.weight_bits = 8;
  l.input_bits = 1;
  l.input_signed = true;
  l.accumulator_bits = 64;
  l.bias_in_accumulator = false;
  l.weights = Tensor<std::int32_t>(Shape{2, 18});
  for (std::int64_t i = 0; i < l.weights.numel(); ++i)
    l.weights.data()[i] = static_cast<std::int32_t>((i * 37) % 255 - 127);
  l.weight_scale = {0.03125f, 3.0f};
  l.input_scale = 1.5f;
  return l;
}

IntegerLayer tiny_layer() {
  IntegerLayer l;
  l.name = "head";
  l.kind = "linear";
  l.method = QuantMethod::a2q;
  l.out_channels = 1;
  l.fan_in = 1;
  l.weight_bits = 1;
  l.input_bits = 32;
  l.accumulator_bits = 2;
  l.weights = Tensor<std::int32_t>({1, 1}, {-1});
  l.weight_scale = {1.0f};
  l.input_scale = 2.0f;
  l.bias = std::vector<std::int64_t>{-1};
  return l;
}

ModelFile sample_model() {
  ModelFile m;
  m.metadata = {{"model", "mlp"},
                {"quant", "a2q+"},
                {"acc_bits", "16"},
                {"seed", "1"},
                {"command_line", "a2q-train --model mlp --quant a2q+ --acc-bits 16 --out \"my model.a2q\""},
                {"note", "Grüße, 量子化 ✓ 🚀"},
                {"empty", ""}};
  a2q::Rng rng(3);
  m.parameters.emplace_back("fc1.weight", Tensor<float>::normal({3, 4}, 0.0, 1.0, rng));
  m.parameters.emplace_back("fc1.bias", Tensor<float>({3}, {0.0f, -0.0f, 1e-40f}));
  m.parameters.emplace_back("step", Tensor<float>(Shape{}, 7.0f));
  m.parameters.emplace_back("special", Tensor<float>({2}, {std::numeric_limits<float>::infinity(),
                                                           std::numeric_limits<float>::quiet_NaN()}));
  m.parameters.emplace_back("empty", Tensor<float>(Shape{0, 3}));
  m.integer_layers = {extreme_linear(), conv_no_bias(), tiny_layer()};
  m.architecture = R"({"a2q_architecture": 1, "input": [4], "network": {"type": "Grüße"}})";
  return m;
}

template <class T>
bool same_bytes(std::span<const T> a, std::span<const T> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

// Bit-exact comparison of every field (NaN == NaN, -0 != +0).
void require_equal(const ModelFile& a, const ModelFile& b) {
  REQUIRE(a.metadata == b.metadata);
  REQUIRE(a.architecture == b.architecture);
  REQUIRE(a.parameters.size() == b.parameters.size());
  for (std::size_t i = 0; i < a.parameters.size(); ++i) {
    INFO("parameter " << a.parameters[i].first);
    CHECK(a.parameters[i].first == b.parameters[i].first);
    CHECK(a.parameters[i].second.shape() == b.parameters[i].second.shape());
    CHECK(same_bytes(a.parameters[i].second.span(), b.parameters[i].second.span()));
  }
  REQUIRE(a.integer_layers.size() == b.integer_layers.size());
  for (std::size_t i = 0; i < a.integer_layers.size(); ++i) {
    const IntegerLayer& x = a.integer_layers[i];
    const IntegerLayer& y = b.integer_layers[i];
    INFO("layer " << x.name);
    CHECK(x.name == y.name);
    CHECK(x.kind == y.kind);
    CHECK(x.method == y.method);
    CHECK(x.out_channels == y.out_channels);
    CHECK(x.fan_in == y.fan_in);
    CHECK(x.weight_bits == y.weight_bits);
    CHECK(x.input_bits == y.input_bits);
    CHECK(x.input_signed == y.input_signed);
    CHECK(x.accumulator_bits == y.accumulator_bits);
    CHECK(x.tile == y.tile);
    CHECK(x.inner_bits == y.inner_bits);
    CHECK(x.bias_in_accumulator == y.bias_in_accumulator);
    CHECK(x.weights == y.weights);
    CHECK(same_bytes(std::span<const float>(x.weight_scale), std::span<const float>(y.weight_scale)));
    CHECK(std::bit_cast<std::uint32_t>(x.input_scale) == std::bit_cast<std::uint32_t>(y.input_scale));
    CHECK(x.bias == y.bias);
  }
}

Bytes to_bytes(const ModelFile& m) {
  std::ostringstream out;
  write_model_file(out, m, "model.a2q");
  const std::string s = out.str();
  return {s.begin(), s.end()};
}

// The message of the io_error that parsing `bytes` throws, or "<parsed>". Any other exception escapes
// and fails the test.
std::string parse_error(const Bytes& bytes) {
  try {
    parse_model_file(bytes, "model.a2q");
  } catch (const io_error& e) {
    return e.what();
  }
  return "<parsed>";
}

// Little-endian encoding by hand, independent of the library's encoder.
struct Enc {
  Bytes b;
  Enc& u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
      b.push_back(static_cast<unsigned char>(v >> (8 * i)));
    return *this;
  }
  Enc& u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i)
      b.push_back(static_cast<unsigned char>(v >> (8 * i)));
    return *this;
  }
  Enc& f32(float v) { return u32(std::bit_cast<std::uint32_t>(v)); }
  Enc& str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Enc& raw(const Bytes& bytes) {
    b.insert(b.end(), bytes.begin(), bytes.end());
    return *this;
  }
};

// A section with a correct CRC around any payload, computed with io::Crc32.
Bytes section(const std::string& tag, const Bytes& payload) {
  Enc e;
  e.b.assign(tag.begin(), tag.end());
  e.u64(payload.size()).raw(payload);
  a2q::io::Crc32 crc;
  crc.update(e.b.data(), e.b.size());
  return e.u32(crc.value()).b;
}

Bytes model_bytes(const std::vector<Bytes>& sections, std::uint32_t version = 1,
                  std::optional<std::uint32_t> count = std::nullopt) {
  Enc e;
  e.b = {'A', '2', 'Q', 'M', 'O', 'D', 'E', 'L'};
  e.u32(version).u32(count.value_or(static_cast<std::uint32_t>(sections.size())));
  for (const Bytes& s : sections)
    e.raw(s);
  return e.b;
}

// One INTL layer, field by field, so tests can put any value in any field.
struct RawLayer {
  std::string name = "fc";
  std::string kind = "linear";
  std::string method = "a2q";
  std::uint64_t out_channels = 2;
  std::uint64_t fan_in = 3;
  std::uint32_t weight_bits = 4;
  std::uint32_t input_bits = 8;
  std::uint32_t accumulator_bits = 16;
  std::uint32_t flags = 4; // has a bias
  std::uint64_t tile = 2;  // with flag bit 3
  std::uint32_t inner_bits = 12;
  std::vector<std::uint64_t> dims = {2, 3};
  std::vector<std::int32_t> weights = {1, -2, 3, -4, 5, -6};
  std::uint64_t scale_count = 2;
  std::vector<float> scales = {0.5f, 0.25f};
  float input_scale = 1.0f;
  std::uint64_t bias_count = 2;
  std::vector<std::int64_t> bias = {7, -7};

  Bytes encode() const {
    Enc e;
    e.str(name).str(kind).str(method).u64(out_channels).u64(fan_in);
    e.u32(weight_bits).u32(input_bits).u32(accumulator_bits).u32(flags);
    if ((flags & 8U) != 0)
      e.u64(tile).u32(inner_bits);
    e.u32(static_cast<std::uint32_t>(dims.size()));
    for (const std::uint64_t d : dims)
      e.u64(d);
    for (const std::int32_t w : weights)
      e.u32(static_cast<std::uint32_t>(w));
    e.u64(scale_count);
    for (const float s : scales)
      e.f32(s);
    e.f32(input_scale);
    if ((flags & 4U) != 0) {
      e.u64(bias_count);
      for (const std::int64_t v : bias)
        e.u64(static_cast<std::uint64_t>(v));
    }
    return e.b;
  }
};

// The IntegerLayer a default RawLayer encodes.
IntegerLayer raw_layer_default() {
  IntegerLayer l;
  l.name = "fc";
  l.kind = "linear";
  l.method = QuantMethod::a2q;
  l.out_channels = 2;
  l.fan_in = 3;
  l.weight_bits = 4;
  l.input_bits = 8;
  l.accumulator_bits = 16;
  l.weights = Tensor<std::int32_t>({2, 3}, {1, -2, 3, -4, 5, -6});
  l.weight_scale = {0.5f, 0.25f};
  l.input_scale = 1.0f;
  l.bias = std::vector<std::int64_t>{7, -7};
  return l;
}

Bytes no_entries() {
  return Enc().u32(0).b;
}

Bytes intl(const std::vector<RawLayer>& layers) {
  Enc e;
  e.u32(static_cast<std::uint32_t>(layers.size()));
  for (const RawLayer& l : layers)
    e.raw(l.encode());
  return e.b;
}

// A file whose only layer is `layer`, with empty metadata and parameters.
Bytes file_with_layer(const RawLayer& layer) {
  return model_bytes(
      {section("META", no_entries()), section("PARM", no_entries()), section("INTL", intl({layer}))});
}

// Where each section of a well-formed file lies.
struct SectionSpan {
  std::string tag;
  std::size_t at;     // offset of the tag
  std::size_t length; // payload bytes; the payload starts at at + 12, the CRC at at + 12 + length
  std::size_t end() const { return at + 12 + length + 4; }
};

std::vector<SectionSpan> sections_of(const Bytes& file) {
  std::vector<SectionSpan> out;
  std::size_t pos = 16;
  while (pos < file.size()) {
    SectionSpan s{std::string(file.begin() + static_cast<std::ptrdiff_t>(pos),
                              file.begin() + static_cast<std::ptrdiff_t>(pos + 4)),
                  pos, static_cast<std::size_t>(a2q::io::detail::load_u64_le(file.data() + pos + 4))};
    out.push_back(s);
    pos = s.end();
  }
  return out;
}

// The (escaped) tag at `at`, as error messages show it.
std::string tag_at(const Bytes& file, std::size_t at) {
  a2q::io::detail::SectionTag tag{};
  std::memcpy(tag.data(), file.data() + at, 4);
  return a2q::io::detail::tag_text(tag);
}

// Recomputes a section's CRC after its bytes were patched.
void fix_crc(Bytes& file, const SectionSpan& s) {
  a2q::io::Crc32 crc;
  crc.update(file.data() + s.at, 12 + s.length);
  for (std::size_t i = 0; i < 4; ++i)
    file[s.at + 12 + s.length + i] = static_cast<unsigned char>(crc.value() >> (8 * i));
}

} // namespace

TEST_CASE("model files round-trip every field", "[io][model_file]") {
  ScratchDir dir;
  const ModelFile original = sample_model();
  save_model_file(dir / "model.a2q", original);
  const ModelFile loaded = load_model_file(dir / "model.a2q");
  require_equal(loaded, original);
  CHECK(dir.entries() == std::vector<std::string>{"model.a2q"});

  CHECK(loaded.find_metadata("note") == std::optional<std::string>("Grüße, 量子化 ✓ 🚀"));
  CHECK(loaded.require_metadata("seed") == "1");
  CHECK(loaded.require_metadata("empty").empty());
  CHECK_FALSE(loaded.find_metadata("missing"));
  CHECK(loaded.integer_layers[1].required_bits() == original.integer_layers[1].required_bits());

  const ModelFile empty;
  save_model_file(dir / "empty.a2q", empty);
  require_equal(load_model_file(dir / "empty.a2q"), empty);
  CHECK(read_all(dir / "empty.a2q").size() == 16 + 3 * (16 + 4) + (12 + 4)); // ARCH's payload is empty
}

TEST_CASE("require_metadata names the missing key", "[io][model_file]") {
  const ModelFile m = sample_model();
  CHECK_THROWS_MATCHES(m.require_metadata("acc-bits"), io_error,
                       Catch::Matchers::Predicate<io_error>([](const io_error& e) {
                         const std::string s = e.what();
                         return s.find("'acc-bits'") != std::string::npos &&
                                s.find("model, quant, acc_bits") != std::string::npos;
                       }));
  CHECK_THROWS_WITH(ModelFile{}.require_metadata("seed"), Contains("'seed'") && Contains("no entries"));
}

TEST_CASE("model files are byte-for-byte deterministic", "[io][model_file]") {
  ScratchDir dir;
  const ModelFile m = sample_model();
  save_model_file(dir / "a.a2q", m);
  save_model_file(dir / "b.a2q", sample_model());
  const Bytes a = read_all(dir / "a.a2q");
  CHECK(a == read_all(dir / "b.a2q"));
  CHECK(a == to_bytes(m));
  save_model_file(dir / "a.a2q", load_model_file(dir / "a.a2q")); // re-saving what was loaded
  CHECK(read_all(dir / "a.a2q") == a);
}

TEST_CASE("the model file layout is the documented one", "[io][model_file]") {
  ModelFile m;
  m.metadata = {{"k", "vv"}};
  m.parameters.emplace_back("t", Tensor<float>({2}, {1.0f, -2.0f}));
  m.integer_layers = {raw_layer_default()};
  const Bytes meta = Enc().u32(1).str("k").str("vv").b;
  const Bytes parm = Enc().u32(1).str("t").u32(1).u64(2).f32(1.0f).f32(-2.0f).b;
  m.architecture = "{}";
  const Bytes arch = {'{', '}'};
  const Bytes expected = model_bytes(
      {section("META", meta), section("ARCH", arch), section("PARM", parm), section("INTL", intl({{}}))}, 2);
  CHECK(to_bytes(m) == expected);
  require_equal(parse_model_file(expected, "x"), m);

  // Version 1 had no ARCH section, and still reads.
  m.architecture.clear();
  require_equal(
      parse_model_file(
          model_bytes({section("META", meta), section("PARM", parm), section("INTL", intl({{}}))}), "x"),
      m);

  // Without a bias, flag bit 2 is clear and the bias array is absent; the other flags are bits 0 and 1.
  RawLayer raw;
  raw.flags = 3;
  m.integer_layers[0].bias.reset();
  m.integer_layers[0].input_signed = true;
  m.integer_layers[0].bias_in_accumulator = true;
  CHECK(to_bytes(m) == model_bytes({section("META", meta), section("ARCH", {}), section("PARM", parm),
                                    section("INTL", intl({raw}))},
                                   2));

  // A tiled layer sets flag bit 3 and stores the tile and the inner width after the flags.
  raw.flags = 3 | 8;
  m.integer_layers[0].tile = 2;
  m.integer_layers[0].inner_bits = 12;
  const Bytes tiled = model_bytes(
      {section("META", meta), section("ARCH", {}), section("PARM", parm), section("INTL", intl({raw}))}, 2);
  CHECK(to_bytes(m) == tiled);
  require_equal(parse_model_file(tiled, "x"), m);
}

TEST_CASE("truncation at every byte offset is an io_error", "[io][model_file]") {
  const Bytes good = to_bytes(sample_model());
  REQUIRE(parse_error(good) == "<parsed>");
  for (std::size_t length = 0; length < good.size(); ++length) {
    INFO("truncated to " << length << " of " << good.size() << " bytes");
    const std::string message =
        parse_error(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length)));
    CHECK_THAT(message,
               Contains("model.a2q: truncated at byte " + std::to_string(length) + " while reading"));
  }
  // The same through the file system, for a few lengths.
  ScratchDir dir;
  const auto path = dir / "cut.a2q";
  for (const std::size_t length :
       {std::size_t{0}, std::size_t{5}, std::size_t{16}, good.size() / 2, good.size() - 1}) {
    write_all(path, Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length)));
    CHECK_THROWS_WITH(load_model_file(path),
                      Contains(path.string() + ": truncated at byte " + std::to_string(length)));
  }
}

TEST_CASE("a flipped bit in any section is caught by its checksum", "[io][model_file]") {
  const Bytes good = to_bytes(sample_model());
  const std::vector<SectionSpan> sections = sections_of(good);
  REQUIRE(sections.size() == 4);
  CHECK(sections[0].tag == "META");
  CHECK(sections[1].tag == "ARCH");
  CHECK(sections[2].tag == "PARM");
  CHECK(sections[3].tag == "INTL");
  REQUIRE(sections[3].end() == good.size());
  for (const SectionSpan& s : sections) {
    for (std::size_t i = s.at; i < s.end(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes bad = good;
        bad[i] ^= static_cast<unsigned char>(1U << bit);
        INFO("section " << s.tag << ", byte " << i << ", bit " << bit);
        const std::string message = parse_error(bad);
        const bool in_length = i >= s.at + 4 && i < s.at + 12;
        if (in_length) // a longer length may run past the end of the file
          CHECK((message.find("checksum") != std::string::npos ||
                 message.find("truncated") != std::string::npos));
        else
          CHECK_THAT(message, Contains("model.a2q: section " + tag_at(bad, s.at) + " at byte " +
                                       std::to_string(s.at) + ": checksum") &&
                                  Contains("does not match the stored"));
      }
    }
  }
  // Header flips are errors too, each naming what is wrong.
  for (std::size_t i = 0; i < 16; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = good;
      bad[i] ^= static_cast<unsigned char>(1U << bit);
      INFO("header byte " << i << ", bit " << bit);
      CHECK_THAT(parse_error(bad), Contains("model.a2q: "));
    }
  }
}

TEST_CASE("a checksum mismatch names the section, offset and both values", "[io][model_file]") {
  Bytes file = to_bytes(sample_model());
  const std::vector<SectionSpan> sections = sections_of(file);
  const SectionSpan& parm = sections[2];
  file[parm.at + 12 + parm.length - 1] ^= 0x01; // the last float of PARM
  const std::uint32_t stored = a2q::io::detail::load_u32_le(file.data() + parm.at + 12 + parm.length);
  const std::uint32_t actual = a2q::io::crc32(file.data() + parm.at, 12 + parm.length);
  CHECK(parse_error(file) == "model.a2q: section PARM at byte " + std::to_string(parm.at) + ": checksum " +
                                 a2q::io::detail::hex32(actual) + " of its " +
                                 std::to_string(12 + parm.length) + " bytes does not match the stored " +
                                 a2q::io::detail::hex32(stored) + " at byte " +
                                 std::to_string(parm.at + 12 + parm.length) + " (the file is corrupt)");
}

TEST_CASE("header errors: bad magic, newer and invalid versions", "[io][model_file]") {
  const Bytes good = to_bytes(sample_model());
  Bytes bad = good;
  bad[3] = 'X';
  CHECK_THAT(parse_error(bad),
             Contains("model.a2q: not an a2q model file: bad magic at byte 0") && Contains("A2QMODEL"));
  CHECK_THAT(parse_error(Bytes{'A', '2', 'Q', 'T'}), Contains("bad magic"));
  CHECK_THAT(parse_error(Bytes{'x'}), Contains("bad magic"));
  CHECK_THAT(parse_error(Bytes{}), Contains("truncated at byte 0 while reading the magic"));

  bad = good;
  bad[8] = 3;
  CHECK(parse_error(bad) ==
        "model.a2q: header at byte 8: written by a newer a2q (format version 3, this build reads up to 2)");
  bad[8] = 0;
  bad[11] = 0x80;
  CHECK_THAT(parse_error(bad), Contains("newer a2q (format version 2147483648"));
  bad[11] = 0;
  CHECK_THAT(parse_error(bad), Contains("format version 0 is invalid"));

  // A tensor archive is not a model file.
  ScratchDir dir;
  a2q::io::TensorArchive archive;
  archive.metadata = {{"k", "v"}};
  a2q::io::save_archive(dir / "ckpt", archive);
  CHECK_THROWS_WITH(load_model_file(dir / "ckpt"), Contains("bad magic"));
  CHECK_THROWS_WITH(load_model_file(dir / "missing"), Contains("file not found"));
  CHECK_THROWS_WITH(load_model_file(dir.path()), Contains("not a regular file"));
}

TEST_CASE("unknown, repeated, misplaced and missing sections", "[io][model_file]") {
  const Bytes meta = section("META", no_entries());
  const Bytes parm = section("PARM", no_entries());
  const Bytes layers = section("INTL", intl({}));
  REQUIRE(parse_error(model_bytes({meta, parm, layers})) == "<parsed>");

  // INTL renamed in place, with a correct CRC.
  Bytes renamed = model_bytes({meta, parm, layers});
  const SectionSpan last = sections_of(renamed)[2];
  std::memcpy(renamed.data() + last.at, "XTRA", 4);
  fix_crc(renamed, last);
  CHECK(parse_error(renamed) == "model.a2q: section XTRA at byte " + std::to_string(last.at) +
                                    ": unknown section tag, expected one of META, PARM, INTL (format version "
                                    "1 has no optional sections)");
  // Version 2 adds ARCH after META; a version-2 file without it is missing a section.
  CHECK_THAT(parse_error(model_bytes({meta, parm, layers}, 2)),
             Contains("out of order, expected section ARCH here (the order is META, ARCH, PARM, INTL)"));
  CHECK(parse_error(model_bytes({meta, section("ARCH", {}), parm, layers}, 2)) == "<parsed>");
  CHECK_THAT(parse_error(model_bytes({meta, section("ARCH", {'{', 0, '}'}), parm, layers}, 2)),
             Contains("section ARCH at byte 36: a NUL byte at byte 49 of the architecture description"));
  // ARCH is no section of version 1.
  CHECK_THAT(parse_error(model_bytes({meta, section("ARCH", {}), parm, layers})),
             Contains("section ARCH at byte 36: unknown section tag"));

  // An extra, well-formed section after the required ones; non-printable tag bytes are escaped.
  CHECK_THAT(parse_error(model_bytes({meta, parm, layers, section("NOTE", {1, 2})})),
             Contains("section NOTE at byte") && Contains("unknown section tag"));
  CHECK_THAT(parse_error(model_bytes({meta, parm, layers, section(std::string("\0\x7f\\z", 4), {})})),
             Contains("section \\x00\\x7f\\x5cz at byte") && Contains("unknown section tag"));

  CHECK_THAT(
      parse_error(model_bytes({meta, parm, layers, meta})),
      Contains("section META at byte " + std::to_string(16 + meta.size() + parm.size() + layers.size())) &&
          Contains("duplicate section, the first is at byte 16"));
  CHECK_THAT(parse_error(model_bytes({meta, layers, parm})),
             Contains("section INTL at byte " + std::to_string(16 + meta.size())) &&
                 Contains("out of order, expected section PARM here"));
  CHECK_THAT(parse_error(model_bytes({parm, meta, layers})), Contains("out of order, expected section META"));
  CHECK_THAT(parse_error(model_bytes({meta, parm})),
             Contains("the section count at byte 12 is 2, so section INTL is missing"));
  CHECK_THAT(parse_error(model_bytes({})), Contains("section META is missing"));
  // A count larger than the sections present is truncation.
  CHECK_THAT(parse_error(model_bytes({meta, parm, layers}, 1, 4)),
             Contains("while reading the tag of section 4 of 4"));
}

TEST_CASE("nothing may follow the last section", "[io][model_file]") {
  Bytes file = to_bytes(sample_model());
  const std::size_t size = file.size();
  file.push_back(0);
  CHECK(parse_error(file) == "model.a2q: 1 unexpected bytes at byte " + std::to_string(size) +
                                 " after the last section, expected the end of the file");
  file.insert(file.end(), 100, 0xAB);
  CHECK_THAT(parse_error(file), Contains("101 unexpected bytes"));

  // Nor the last entry inside a section.
  Bytes meta = no_entries();
  meta.push_back(7);
  CHECK_THAT(parse_error(model_bytes(
                 {section("META", meta), section("PARM", no_entries()), section("INTL", intl({}))})),
             Contains("model.a2q: section META at byte 32: 1 unexpected bytes after the last entry"));
  Bytes layers = intl({RawLayer{}});
  layers.push_back(0);
  CHECK_THAT(parse_error(model_bytes(
                 {section("META", no_entries()), section("PARM", no_entries()), section("INTL", layers)})),
             Contains("section INTL at byte") && Contains("1 unexpected bytes after the last entry"));
}

TEST_CASE("malformed layers with a correct checksum are rejected field by field", "[io][model_file]") {
  REQUIRE(parse_error(file_with_layer(RawLayer{})) == "<parsed>");
  {
    const ModelFile m = parse_model_file(file_with_layer(RawLayer{}), "x");
    require_equal(m, ModelFile{{}, {}, {}, {raw_layer_default()}});
  }
  // Offsets: header 16 bytes, META and PARM 20 each (12 + 4-byte payload + 4), so INTL's payload starts
  // at 68, the first layer at 72, its kind at 78 and its method at 88.
  auto expect = [](RawLayer layer, const std::string& fragment) {
    INFO(fragment);
    CHECK_THAT(parse_error(file_with_layer(layer)),
               Contains("model.a2q: section INTL at byte ") && Contains(fragment));
  };
  RawLayer l;
  l.kind = "dense";
  expect(l, "at byte 78: layer 0 ('fc'): unknown layer kind 'dense', expected linear or conv2d");
  l = {};
  l.kind = "";
  expect(l, "the length of the kind of layer 0 ('fc') is 0, expected 1..4096");
  l = {};
  l.method = "a3q";
  expect(l, "at byte 88: layer 0 ('fc'): unknown quantization method 'a3q', expected one of float, baseline, "
            "a2q, a2q+, a2q-split");
  l = {};
  l.name = "";
  expect(l, "at byte 72: the length of the name of layer 0 is 0, expected 1..4096");
  l = {};
  l.out_channels = 0;
  expect(l, "layer 0 ('fc'): out_channels is 0, expected 1..281474976710656");
  l = {};
  l.fan_in = std::uint64_t{1} << 63;
  expect(l, "layer 0 ('fc'): fan_in is 9223372036854775808, expected 1..281474976710656");
  l = {};
  l.weight_bits = 0;
  expect(l, "weight_bits is 0, expected 1..32");
  l = {};
  l.weight_bits = 33;
  expect(l, "weight_bits is 33, expected 1..32");
  l = {};
  l.input_bits = 0xFFFFFFFFU;
  expect(l, "input_bits is 4294967295, expected 1..32");
  l = {};
  l.accumulator_bits = 1;
  expect(l, "accumulator_bits is 1, expected 2..64");
  l = {};
  l.accumulator_bits = 65;
  expect(l, "accumulator_bits is 65, expected 2..64");
  l = {};
  l.flags = 16 | 4;
  expect(l, "flags are 0x00000014, expected only bits 0..3");
  l = {};
  l.flags = 8 | 4;
  l.tile = 4; // more than fan_in = 3
  expect(l, "tile is 4, expected 1..3");
  l = {};
  l.flags = 8 | 4;
  l.inner_bits = 17; // wider than the outer register
  expect(l, "inner_bits is 17, expected 2..16");
  l = {};
  l.dims = {3, 2};
  expect(l, "weights have shape [3, 2], expected [2, 3] (out_channels, fan_in)");
  l = {};
  l.dims = {6};
  expect(l, "weights have shape [6], expected [2, 3]");
  l = {};
  l.dims = {1, 1, 1, 1, 1, 1};
  expect(l, "the weights of layer 0 ('fc') has rank 6, expected 0..5");
  l = {};
  l.scale_count = 3;
  expect(l, "the number of weight scales of layer 0 ('fc') is 3, expected 2 (out_channels)");
  for (const float bad :
       {0.0f, -0.5f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    l = {};
    l.scales[1] = bad;
    expect(l, "layer 0 ('fc'): weight_scale of channel 1 is ");
    l = {};
    l.input_scale = bad;
    expect(l, "layer 0 ('fc'): input_scale is ");
  }
  l = {};
  l.scales[0] = -1.0f;
  expect(l, "weight_scale of channel 0 is -1, expected a finite value > 0");
  l = {};
  l.bias_count = 1;
  expect(l, "the number of bias values of layer 0 ('fc') is 1, expected 2 (out_channels)");
  l = {};
  l.bias.pop_back();
  expect(l, "the bias of layer 0 ('fc') needs 2 values (16 bytes), but only 8 bytes of payload remain");
  l = {};
  l.flags = 0; // no bias flag, yet bias bytes follow
  l.scales = {0.5f, 0.25f};
  {
    Bytes layers = intl({l});
    Enc extra;
    extra.u64(2).u64(7).u64(static_cast<std::uint64_t>(-7));
    layers.insert(layers.end(), extra.b.begin(), extra.b.end());
    CHECK_THAT(parse_error(model_bytes(
                   {section("META", no_entries()), section("PARM", no_entries()), section("INTL", layers)})),
               Contains("24 unexpected bytes after the last entry"));
  }
  // Huge sizes are refused before anything is allocated from them.
  l = {};
  l.out_channels = std::uint64_t{1} << 24;
  l.fan_in = std::uint64_t{1} << 24;
  l.dims = {std::uint64_t{1} << 24, std::uint64_t{1} << 24};
  expect(l, "layer 0 ('fc'): the weights need 281474976710656 values (1125899906842624 bytes), but only");
  l = {};
  l.out_channels = std::uint64_t{1} << 40; // C·K = 2^80: the expected shape is not even a valid Shape
  l.fan_in = std::uint64_t{1} << 40;
  expect(l, "weights have shape [2, 3], expected [1099511627776, 1099511627776]");
  l = {};
  l.out_channels = std::uint64_t{1} << 40;
  l.fan_in = 1;
  l.dims = {std::uint64_t{1} << 40, 1};
  l.weights.clear();
  expect(l, "the weights need 1099511627776 values");
  {
    Bytes layers = Enc().u32(0xFFFFFFFFU).b;
    CHECK_THAT(
        parse_error(model_bytes(
            {section("META", no_entries()), section("PARM", no_entries()), section("INTL", layers)})),
        Contains("section INTL at byte 68: the number of integer layers is 4294967295, expected at most 0"));
  }
  // Duplicate layer names.
  {
    const Bytes two = intl({RawLayer{}, RawLayer{}});
    CHECK_THAT(parse_error(model_bytes(
                   {section("META", no_entries()), section("PARM", no_entries()), section("INTL", two)})),
               Contains("layer 1 ('fc'): name appears more than once"));
  }
}

TEST_CASE("malformed metadata and parameters with a correct checksum", "[io][model_file]") {
  auto file = [](const Bytes& meta, const Bytes& parm) {
    return model_bytes({section("META", meta), section("PARM", parm), section("INTL", intl({}))});
  };
  CHECK_THAT(parse_error(file(Enc().u32(2).str("k").str("a").str("k").str("b").b, no_entries())),
             Contains("section META at byte") &&
                 Contains("metadata entry 1: key 'k' appears more than once"));
  CHECK_THAT(parse_error(file(Enc().u32(1000000).b, no_entries())),
             Contains("section META at byte 28: the number of metadata entries is 1000000"));
  CHECK_THAT(parse_error(file(no_entries(), Enc().u32(1).str("w").u32(6).b)),
             Contains("section PARM at byte 57: tensor 0 ('w') has rank 6, expected 0..5"));
  CHECK_THAT(
      parse_error(file(no_entries(), Enc().u32(1).str("w").u32(2).u64(1000).u64(1000).b)),
      Contains("tensor 0 ('w') needs 1000000 elements (4000000 bytes), but only 0 bytes of payload remain"));
}

TEST_CASE("random corruption behind a valid checksum never crashes the reader", "[io][model_file]") {
  const Bytes good = to_bytes(sample_model());
  const std::vector<SectionSpan> sections = sections_of(good);
  a2q::Rng rng(2024);
  std::size_t parsed = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    Bytes bad = good;
    const SectionSpan& s = sections[rng.below(sections.size())];
    if (s.length == 0)
      continue;
    const int edits = 1 + static_cast<int>(rng.below(4));
    for (int e = 0; e < edits; ++e) {
      const std::size_t i = s.at + 12 + rng.below(s.length);
      bad[i] =
          rng.below(4) == 0 ? static_cast<unsigned char>(0xFF) : static_cast<unsigned char>(rng.below(256));
    }
    fix_crc(bad, s);
    INFO("trial " << trial);
    if (parse_error(bad) == "<parsed>") // e.g. a changed float or name: still a valid file
      ++parsed;
  }
  CHECK(parsed < 3000);
}

TEST_CASE("save_model_file refuses contents it could not load back", "[io][model_file]") {
  ScratchDir dir;
  const auto path = dir / "m.a2q";
  auto refuse = [&](const std::function<void(IntegerLayer&)>& edit, const std::string& fragment) {
    ModelFile m;
    m.integer_layers = {raw_layer_default()};
    edit(m.integer_layers[0]);
    INFO(fragment);
    CHECK_THROWS_MATCHES(save_model_file(path, m), config_error,
                         Catch::Matchers::Predicate<config_error>([&](const config_error& e) {
                           const std::string s = e.what();
                           return s.find("save_model_file " + path.string() + ": ") == 0 &&
                                  s.find(fragment) != std::string::npos;
                         }));
  };
  refuse([](IntegerLayer& l) { l.kind = "dense"; }, "layer 'fc': unknown layer kind 'dense'");
  refuse([](IntegerLayer& l) { l.name.clear(); }, "layer name '' has 0 bytes");
  refuse([](IntegerLayer& l) { l.method = static_cast<QuantMethod>(17); }, "invalid quantization method");
  refuse([](IntegerLayer& l) { l.weight_bits = 0; }, "weight_bits is 0, expected 1..32");
  refuse([](IntegerLayer& l) { l.input_bits = 33; }, "input_bits is 33, expected 1..32");
  refuse([](IntegerLayer& l) { l.accumulator_bits = 65; }, "accumulator_bits is 65, expected 2..64");
  refuse([](IntegerLayer& l) { l.out_channels = 3; }, "weights have shape [2, 3], expected [3, 3]");
  refuse(
      [](IntegerLayer& l) {
        l.weights = Tensor<std::int32_t>({6}, {1, 2, 3, 4, 5, 6});
      },
      "weights have shape [6], expected [2, 3]");
  refuse([](IntegerLayer& l) { l.weight_scale.push_back(1.0f); }, "3 weight scales, expected 2");
  refuse([](IntegerLayer& l) { l.weight_scale[1] = 0.0f; },
         "weight_scale of channel 1 is 0, expected a finite value > 0");
  refuse([](IntegerLayer& l) { l.input_scale = std::numeric_limits<float>::infinity(); },
         "input_scale is inf");
  refuse([](IntegerLayer& l) { l.bias = std::vector<std::int64_t>{1}; }, "1 bias values, expected 2");
  {
    ModelFile m;
    m.integer_layers = {raw_layer_default(), raw_layer_default()};
    CHECK_THROWS_WITH(save_model_file(path, m), Contains("layer name 'fc' appears more than once"));
    m = ModelFile{};
    m.metadata = {{"k", "a"}, {"k", "b"}};
    CHECK_THROWS_WITH(save_model_file(path, m), Contains("metadata key 'k' appears more than once"));
  }
  CHECK(dir.entries().empty()); // nothing was created

  std::ostringstream out;
  ModelFile m;
  m.integer_layers = {raw_layer_default()};
  m.integer_layers[0].kind = "pool";
  CHECK_THROWS_AS(write_model_file(out, m, "s"), config_error);
  CHECK(out.str().empty()); // validated before the first byte
}

TEST_CASE("write_model_file reports a failed stream", "[io][model_file]") {
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  CHECK_THROWS_WITH(write_model_file(out, sample_model(), "dest.a2q"),
                    "dest.a2q: writing the model file failed");
}

namespace {

// Passes writes on to `target` until `budget` bytes have gone through, then throws, as a full disk or a
// failing device would in the middle of a save.
class FailingBuf : public std::streambuf {
public:
  FailingBuf(std::streambuf* target, std::size_t budget) : target_(target), budget_(budget) {}

protected:
  int_type overflow(int_type ch) override {
    if (traits_type::eq_int_type(ch, traits_type::eof()))
      return traits_type::not_eof(ch);
    const char c = traits_type::to_char_type(ch);
    return xsputn(&c, 1) == 1 ? ch : traits_type::eof();
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const auto size = static_cast<std::size_t>(n);
    if (size > budget_) {
      target_->sputn(s, static_cast<std::streamsize>(budget_));
      budget_ = 0;
      throw std::runtime_error("disk full (simulated)");
    }
    budget_ -= size;
    return target_->sputn(s, n);
  }

private:
  std::streambuf* target_;
  std::size_t budget_;
};

} // namespace

TEST_CASE("a writer that throws mid-write leaves the previous file and no temporary file",
          "[io][model_file]") {
  ScratchDir dir;
  const auto path = dir / "model.a2q";
  const ModelFile original = sample_model();
  save_model_file(path, original);
  ModelFile bigger = sample_model();
  bigger.parameters.emplace_back("extra", Tensor<float>(Shape{100000}, 0.25f));
  const std::size_t full = to_bytes(bigger).size();
  for (const std::size_t budget : {std::size_t{0}, std::size_t{10}, std::size_t{100}, full / 2, full - 1}) {
    INFO("failing after " << budget << " of " << full << " bytes");
    CHECK_THROWS_WITH(a2q::io::write_file_atomically(path,
                                                     [&](std::ostream& out) {
                                                       FailingBuf failing(out.rdbuf(), budget);
                                                       std::ostream stream(&failing);
                                                       stream.exceptions(std::ios::badbit);
                                                       write_model_file(stream, bigger, path);
                                                     }),
                      "disk full (simulated)");
    require_equal(load_model_file(path), original);
    CHECK(dir.entries() == std::vector<std::string>{"model.a2q"});
  }
}

TEST_CASE("a writer killed mid-save leaves a complete old or new file", "[io][model_file]") {
  ScratchDir dir;
  const auto path = dir / "model.a2q";
  ModelFile old_model = sample_model();
  old_model.metadata.emplace_back("generation", "old");
  ModelFile new_model = sample_model();
  new_model.metadata.emplace_back("generation", "new");
  // About 24 MB of parameters, so that a save takes long enough to be interrupted.
  Tensor<float> big = Tensor<float>::uninitialized(Shape{6, 1000000});
  for (std::int64_t i = 0; i < big.numel(); ++i)
    big.data()[i] = static_cast<float>(i % 1000) * 0.5f;
  new_model.parameters.emplace_back("big", std::move(big));

  int old_seen = 0;
  int new_seen = 0;
  int interrupted = 0;
  // Rounds kill the writer a few ms into its first save (the old file must survive), or a few ms after
  // its first save has landed, in the middle of the next one (the new file must survive).
  struct Round {
    int delay_ms;
    bool after_first_save;
  };
  const std::vector<Round> rounds = {{0, false},  {2, false}, {5, false}, {10, false},
                                     {25, false}, {0, true},  {3, true},  {10, true}};
  for (const Round& round : rounds) {
    const int delay_ms = round.delay_ms;
    save_model_file(path, old_model);
    const pid_t child = ::fork();
    if (child < 0) {
      WARN("fork() is unavailable (" << std::strerror(errno) << "): skipping the kill test");
      return;
    }
    if (child == 0) {
      // The child only saves, then leaves without running any test-framework or sanitizer teardown.
      try {
        for (int i = 0; i < 50; ++i)
          save_model_file(path, new_model);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    if (round.after_first_save) {
      // The old file is about 1 KB, the new one 24 MB: a large file means the first save has landed.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      std::error_code ec;
      while (std::filesystem::file_size(path, ec) < 1000000 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("killed after " << delay_ms << " ms" << (round.after_first_save ? " after the first save" : ""));
    // Killed, or (on a very fast machine) done with every save; never failed.
    CHECK((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));

    const auto temp = dir.path() / ("model.a2q.tmp." + std::to_string(child));
    if (std::filesystem::exists(temp)) { // a killed writer cannot clean up; the target is untouched
      ++interrupted;
      std::filesystem::remove(temp);
    }
    ModelFile loaded;
    REQUIRE_NOTHROW(loaded = load_model_file(path));
    const std::string generation = loaded.require_metadata("generation");
    if (generation == "old") {
      CHECK_FALSE(round.after_first_save);
      ++old_seen;
      require_equal(loaded, old_model);
    } else {
      REQUIRE(generation == "new");
      ++new_seen;
      require_equal(loaded, new_model);
    }
    CHECK(dir.entries() == std::vector<std::string>{"model.a2q"});
  }
  INFO("old " << old_seen << ", new " << new_seen << ", interrupted mid-write " << interrupted);
  CHECK(old_seen + new_seen == static_cast<int>(rounds.size()));
  CHECK(new_seen >= 3);
}
