// Fuzz harness: tensor archives and the checkpoints stored in them. The bytes are loaded as an archive,
// then as a checkpoint of fuzz_models.hpp's network and optimizer (all or nothing: a refused checkpoint
// must leave both as they were). An input refused only for its checksum is repaired and read again.

#include "fuzz_models.hpp"
#include "fuzz_target.hpp"

#include <a2q/io/tensor_archive.hpp>
#include <a2q/train/checkpoint.hpp>

namespace {

void read_and_use(std::span<const std::uint8_t> bytes) {
  const auto path = a2q_fuzz::write_scratch("archive.a2qt", bytes);
  a2q_fuzz::expect_clear_error([&] { (void)a2q::io::load_archive(path); });

  a2q_fuzz::CheckpointTarget target;
  const a2q::nn::NamedTensors before = target.model->state_dict();
  try {
    (void)a2q::train::load_checkpoint(path, *target.model, target.optimizer.get());
  } catch (const a2q::error& e) {
    if (std::string_view(e.what()).empty())
      std::abort();
    const a2q::nn::NamedTensors after = target.model->state_dict();
    for (std::size_t i = 0; i < before.size(); ++i)
      if (!std::equal(before[i].second.begin(), before[i].second.end(), after[i].second.begin()))
        std::abort(); // a refused checkpoint changed the model
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  a2q_fuzz::read_as_is_and_repaired(data, size, a2q_fuzz::repair_archive_checksum, read_and_use);
  return 0;
}
