#pragma once
/// @file
/// Training checkpoints: save_checkpoint / load_checkpoint (a model's state dict, its optimizer's state
/// and the training position, in a tensor archive written atomically) and CheckpointCallback, which
/// saves one every few epochs during Trainer::fit.
///
/// Archive contents: tensors "model.<name>" (the state dict: parameters and buffers) and
/// "optimizer.<name>" (Optimizer::state()); metadata "a2q.format" = "checkpoint", "a2q.version",
/// "epochs_completed", "model_type", "lr", plus whatever the caller adds (e.g. "data_seed").

#include "a2q/core/error.hpp"
#include "a2q/io/tensor_archive.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/optim/optimizer.hpp"
#include "a2q/train/callback.hpp"
#include "a2q/version.hpp"

#include <charconv>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace a2q::train {

/// Metadata entries as (key, value) pairs.
using Metadata = std::vector<std::pair<std::string, std::string>>;

/// The value of metadata "a2q.format" in a checkpoint.
inline constexpr const char* checkpoint_format = "checkpoint";

/// What load_checkpoint found besides the tensors it loaded.
struct CheckpointInfo {
  int epochs_completed = 0; ///< epochs trained when it was saved; resume at this epoch
  bool has_optimizer_state = false;
  Metadata metadata; ///< all metadata, including the standard entries
};

/// Saves `model`'s state dict, `optimizer`'s state (if given) and the training position to `path`,
/// atomically: a failure leaves an existing checkpoint intact.
/// @param epochs_completed epochs trained so far (>= 0).
/// @param extra_metadata more (key, value) entries; keys must differ from the standard ones.
/// @throws config_error for a negative epoch count or clashing metadata keys; io_error for I/O errors.
inline void save_checkpoint(const std::filesystem::path& path, const nn::Module& model,
                            const Optimizer* optimizer, int epochs_completed,
                            const Metadata& extra_metadata = {}) {
  if (epochs_completed < 0)
    throw config_error("save_checkpoint " + path.string() + ": epochs_completed must be >= 0, got " +
                       std::to_string(epochs_completed));
  io::TensorArchive archive;
  archive.metadata = {{"a2q.format", checkpoint_format},
                      {"a2q.version", A2Q_VERSION_STRING},
                      {"epochs_completed", std::to_string(epochs_completed)},
                      {"model_type", model.type_name()}};
  if (optimizer != nullptr) {
    char buffer[32];
    const auto end = std::to_chars(buffer, buffer + sizeof buffer, optimizer->lr()).ptr;
    archive.metadata.emplace_back("lr", std::string(buffer, end));
  }
  for (const auto& entry : extra_metadata) {
    for (const auto& [key, value] : archive.metadata)
      if (key == entry.first)
        throw config_error("save_checkpoint " + path.string() + ": metadata key '" + key +
                           "' is reserved or given twice");
    archive.metadata.push_back(entry);
  }
  for (auto& [name, tensor] : model.state_dict())
    archive.tensors.emplace_back("model." + name, std::move(tensor));
  if (optimizer != nullptr)
    for (auto& [name, tensor] : optimizer->state())
      archive.tensors.emplace_back("optimizer." + name, std::move(tensor));
  io::save_archive(path, archive);
}

/// Loads a checkpoint saved by save_checkpoint into `model` and, if given, `optimizer`.
///
/// All or nothing: if anything does not match (a missing or extra tensor, a shape, the optimizer's
/// kind), the model and optimizer keep their previous state.
/// @param optimizer may be null to load only the model (the checkpoint's optimizer state is ignored).
/// @throws io_error for an unreadable or corrupt file or one that is not a checkpoint (naming it);
///   config_error / shape_error (prefixed with the path) when the contents do not fit the model or
///   optimizer, or an optimizer is given but the checkpoint holds no optimizer state.
inline CheckpointInfo load_checkpoint(const std::filesystem::path& path, nn::Module& model,
                                      Optimizer* optimizer = nullptr) {
  io::TensorArchive archive = io::load_archive(path);
  const std::string who = "load_checkpoint " + path.string() + ": ";
  if (archive.find_metadata("a2q.format") != std::optional<std::string>(checkpoint_format))
    throw io_error(path.string() + ": not a checkpoint (metadata 'a2q.format' is not \"" + checkpoint_format +
                   "\")");
  CheckpointInfo info;
  const std::optional<std::string> epochs = archive.find_metadata("epochs_completed");
  bool epochs_ok = epochs.has_value() && !epochs->empty();
  if (epochs_ok) {
    const char* last = epochs->data() + epochs->size();
    const auto [end, ec] = std::from_chars(epochs->data(), last, info.epochs_completed);
    epochs_ok = ec == std::errc() && end == last && info.epochs_completed >= 0;
  }
  if (!epochs_ok)
    throw io_error(path.string() + ": checkpoint metadata 'epochs_completed' is missing or not a "
                                   "non-negative integer");

  nn::NamedTensors model_state;
  OptimizerState optimizer_state;
  constexpr std::string_view model_prefix = "model.";
  constexpr std::string_view optimizer_prefix = "optimizer.";
  for (auto& [name, tensor] : archive.tensors) {
    if (name.starts_with(model_prefix))
      model_state.emplace_back(name.substr(model_prefix.size()), std::move(tensor));
    else if (name.starts_with(optimizer_prefix))
      optimizer_state.emplace_back(name.substr(optimizer_prefix.size()), std::move(tensor));
    else
      throw io_error(path.string() + ": unexpected checkpoint tensor '" + name +
                     "' (expected names starting with 'model.' or 'optimizer.')");
  }
  info.has_optimizer_state = !optimizer_state.empty();
  if (optimizer != nullptr && !info.has_optimizer_state)
    throw config_error(who + "the checkpoint holds no optimizer state, but an optimizer was given");

  // Module::load_state_dict assigns entry by entry, so keep a copy to roll back on a mismatch.
  const nn::NamedTensors previous = model.state_dict();
  try {
    model.load_state_dict(model_state, true);
    if (optimizer != nullptr)
      optimizer->load_state(optimizer_state);
  } catch (const shape_error& e) {
    model.load_state_dict(previous, true);
    throw shape_error(who + e.what());
  } catch (const config_error& e) {
    model.load_state_dict(previous, true);
    throw config_error(who + e.what());
  }
  info.metadata = std::move(archive.metadata);
  return info;
}

/// Saves a checkpoint every `every_n_epochs` epochs, and after the last epoch of a fit (also when it
/// stops early), through save_checkpoint. The file is replaced atomically each time, so an interrupted
/// run always leaves a complete checkpoint of some earlier epoch. Adds metadata "data_seed" (the training
/// loader's seed) and any extra entries given.
class CheckpointCallback : public Callback {
public:
  /// @param path the checkpoint file (replaced on each save).
  /// @param every_n_epochs save after epochs every_n_epochs, 2 * every_n_epochs, ... (counted from 1),
  ///   and after the final epoch; >= 1.
  /// @param extra_metadata saved with every checkpoint (e.g. {"model_seed", "42"}).
  explicit CheckpointCallback(std::filesystem::path path, int every_n_epochs = 1,
                              Metadata extra_metadata = {})
      : path_(std::move(path)), every_(every_n_epochs), extra_(std::move(extra_metadata)) {
    if (every_n_epochs < 1)
      throw config_error("CheckpointCallback: every_n_epochs must be >= 1, got " +
                         std::to_string(every_n_epochs));
  }

  void on_train_begin(const TrainInfo& info) override {
    model_ = info.model;
    optimizer_ = info.optimizer;
    data_seed_ = info.data_seed;
    last_saved_ = -1;
    last_completed_ = -1;
  }

  void on_epoch_end(const EpochStats& stats, const std::optional<EvalResult>& /*validation*/) override {
    last_completed_ = stats.epoch + 1;
    if (last_completed_ % every_ == 0)
      save(last_completed_);
  }

  void on_train_end(const FitResult& /*result*/) override {
    if (last_completed_ > 0 && last_saved_ != last_completed_)
      save(last_completed_);
    model_ = nullptr;
    optimizer_ = nullptr;
  }

  const std::filesystem::path& path() const { return path_; }
  /// Epochs completed at the last save in this fit, -1 if none yet.
  int last_saved_epochs() const { return last_saved_; }
  /// Number of saves so far.
  int saves() const { return saves_; }

private:
  void save(int epochs_completed) {
    if (model_ == nullptr)
      throw config_error("CheckpointCallback: no model (was on_train_begin called?)");
    Metadata metadata = extra_;
    metadata.emplace_back("data_seed", std::to_string(data_seed_));
    save_checkpoint(path_, *model_, optimizer_, epochs_completed, metadata);
    last_saved_ = epochs_completed;
    ++saves_;
  }

  std::filesystem::path path_;
  int every_;
  Metadata extra_;
  const nn::Module* model_ = nullptr;
  const Optimizer* optimizer_ = nullptr;
  std::uint64_t data_seed_ = 0;
  int last_saved_ = -1;
  int last_completed_ = -1;
  int saves_ = 0;
};

} // namespace a2q::train
