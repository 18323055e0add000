// Fuzz harness: model files. The bytes go through everything a command does with a model file: the
// parser, rebuilding the network from its architecture, loading its parameters, the check that the
// stored integer layers are the ones the parameters give, the integer program, the proof of every layer,
// the C header export, and (for inputs of at most 4096 values) one sample through the integer engine,
// whose fast kernels must agree bit for bit with the reference loops. An input refused only for a section
// checksum is repaired and read again, so that mutations reach the parsers behind the CRC-32s.

#include "fuzz_target.hpp"

#include <a2q/engine/adversarial.hpp>
#include <a2q/engine/cpu_features.hpp>
#include <a2q/engine/verify.hpp>
#include <a2q/io/c_header.hpp>
#include <a2q/io/model_file.hpp>
#include <a2q/io/model_io.hpp>

#include <cstdio>
#include <cstring>

#include <sstream>

namespace {

void read_and_use(std::span<const std::uint8_t> bytes) {
  a2q_fuzz::expect_clear_error([&] {
    a2q::io::ModelFile file = a2q::io::parse_model_file(bytes, "fuzz.a2q");
    const a2q::io::LoadedModel loaded = a2q::io::read_model(std::move(file), "fuzz.a2q");
    const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(loaded);
    for (const auto& proof : a2q::engine::prove_model(ints))
      (void)proof.proven();
    if (loaded.input.numel() <= 4096) {
      std::vector<std::int64_t> dims{1};
      for (const std::int64_t d : loaded.input.dims())
        dims.push_back(d);
      a2q::Tensor<float> x{a2q::Shape(dims)};
      for (std::int64_t i = 0; i < x.numel(); ++i)
        x[i] = static_cast<float>(i % 17) / 8.0f - 1.0f;
      const auto run = [&](a2q::engine::KernelChoice kernel) {
        a2q::engine::ExecutionOptions options;
        options.policy = a2q::engine::OverflowPolicy::wrap;
        options.kernel = kernel;
        return ints.forward(x, options);
      };
      const a2q::Tensor<float> fast = run(a2q::engine::KernelChoice::automatic);
      const a2q::Tensor<float> reference = run(a2q::engine::KernelChoice::reference);
      const bool same = fast.shape() == reference.shape() &&
                        std::memcmp(fast.data(), reference.data(),
                                    sizeof(float) * static_cast<std::size_t>(fast.numel())) == 0;
      if (!same) { // a fast kernel differs from the reference on this model
        std::fprintf(stderr, "model_file: the %s kernels differ from the reference kernels\n",
                     a2q::engine::to_string(a2q::engine::active_isa()));
        std::abort();
      }
    }
    std::ostringstream header;
    a2q::io::write_c_header(header, ints, "fuzz");
  });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  a2q_fuzz::read_as_is_and_repaired(data, size, a2q_fuzz::repair_model_file_checksums, read_and_use);
  return 0;
}
