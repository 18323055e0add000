// Fuzz harness: model files. The bytes go through everything a command does with a model file: the
// parser, rebuilding the network from its architecture, loading its parameters, the check that the
// stored integer layers are the ones the parameters give, the integer program, the proof of every layer
// and the C header export. An input refused only for a section checksum is repaired and read again, so
// that mutations reach the parsers behind the CRC-32s.

#include "fuzz_target.hpp"

#include <a2q/engine/adversarial.hpp>
#include <a2q/engine/verify.hpp>
#include <a2q/io/c_header.hpp>
#include <a2q/io/model_file.hpp>
#include <a2q/io/model_io.hpp>

#include <sstream>

namespace {

void read_and_use(std::span<const std::uint8_t> bytes) {
  a2q_fuzz::expect_clear_error([&] {
    a2q::io::ModelFile file = a2q::io::parse_model_file(bytes, "fuzz.a2q");
    const a2q::io::LoadedModel loaded = a2q::io::read_model(std::move(file), "fuzz.a2q");
    const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(loaded);
    for (const auto& proof : a2q::engine::prove_model(ints))
      (void)proof.proven();
    std::ostringstream header;
    a2q::io::write_c_header(header, ints, "fuzz");
  });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  a2q_fuzz::read_as_is_and_repaired(data, size, a2q_fuzz::repair_model_file_checksums, read_and_use);
  return 0;
}
