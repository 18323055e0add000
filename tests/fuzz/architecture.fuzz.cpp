// Fuzz harness: architecture descriptions (the JSON a model file stores and `a2q train --arch` reads).
// A description that builds must describe itself back into text that builds into the same description:
// the reader and the writer agree on everything a file can hold. Networks are limited to 2^22 weights
// (16 MiB), as a model file limits its description to the floats it stores.

#include "fuzz_target.hpp"

#include <a2q/core/rng.hpp>
#include <a2q/io/architecture.hpp>
#include <a2q/models/quant_zoo.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::int64_t max_weights = std::int64_t{1} << 22;
  a2q::models::QuantPolicy policy;
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  const a2q::models::QuantPolicy* const policies[] = {nullptr, &policy};
  for (const a2q::models::QuantPolicy* p : policies)
    a2q_fuzz::expect_clear_error([&] {
      a2q::Rng rng(1);
      const a2q::io::Architecture built =
          a2q::io::build_architecture(text, rng, p, /*check_shapes=*/true, max_weights);
      const std::string described = a2q::io::describe_architecture(*built.network, built.input);
      a2q::Rng again(1);
      const a2q::io::Architecture rebuilt = a2q::io::build_architecture(described, again);
      if (a2q::io::describe_architecture(*rebuilt.network, rebuilt.input) != described)
        std::abort(); // the description does not survive a round trip
    });
  return 0;
}
