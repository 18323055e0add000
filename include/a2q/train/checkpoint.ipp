#pragma once
/// @file
/// Definitions for checkpoint.hpp (see a2q/core/config.hpp).

#include "a2q/train/checkpoint.hpp"

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

void save_checkpoint(const std::filesystem::path& path, const nn::Module& model, const Optimizer* optimizer,
                     int epochs_completed, const Metadata& extra_metadata) {
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

CheckpointInfo load_checkpoint(const std::filesystem::path& path, nn::Module& model, Optimizer* optimizer) {
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

CheckpointCallback::CheckpointCallback(std::filesystem::path path, int every_n_epochs,
                                       Metadata extra_metadata)
    : path_(std::move(path)), every_(every_n_epochs), extra_(std::move(extra_metadata)) {
  if (every_n_epochs < 1)
    throw config_error("CheckpointCallback: every_n_epochs must be >= 1, got " +
                       std::to_string(every_n_epochs));
}

void CheckpointCallback::on_train_begin(const TrainInfo& info) {
  model_ = info.model;
  optimizer_ = info.optimizer;
  data_seed_ = info.data_seed;
  last_saved_ = -1;
  last_completed_ = -1;
}

void CheckpointCallback::on_epoch_end(const EpochStats& stats,
                                      const std::optional<EvalResult>& /*validation*/) {
  last_completed_ = stats.epoch + 1;
  if (last_completed_ % every_ == 0)
    save(last_completed_);
}

void CheckpointCallback::on_train_end(const FitResult& /*result*/) {
  if (last_completed_ > 0 && last_saved_ != last_completed_)
    save(last_completed_);
  model_ = nullptr;
  optimizer_ = nullptr;
}

void CheckpointCallback::save(int epochs_completed) {
  if (model_ == nullptr)
    throw config_error("CheckpointCallback: no model (was on_train_begin called?)");
  Metadata metadata = extra_;
  metadata.emplace_back("data_seed", std::to_string(data_seed_));
  save_checkpoint(path_, *model_, optimizer_, epochs_completed, metadata);
  last_saved_ = epochs_completed;
  ++saves_;
}

} // namespace a2q::train
