// Fuzz harness: CIFAR-10 binary batches (records of a label byte and 3072 pixel bytes).

#include "fuzz_target.hpp"

#include <a2q/data/cifar10.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = a2q_fuzz::write_scratch("data_batch.bin", std::span<const std::uint8_t>(data, size));
  a2q_fuzz::expect_clear_error([&] {
    const a2q::data::Cifar10Batch batch = a2q::data::read_cifar10_batch(path);
    if (batch.images.dim(0) != static_cast<std::int64_t>(batch.labels.size()))
      std::abort();
    for (const std::int32_t label : batch.labels)
      if (label < 0 || label >= a2q::data::cifar10_num_classes)
        std::abort(); // a label the reader should have refused
  });
  return 0;
}
