#pragma once
/// @file
/// Training checkpoints: save_checkpoint / load_checkpoint (a model's state dict, its optimizer's state
/// and the training position, in a tensor archive written atomically) and CheckpointCallback, which
/// saves one every few epochs during Trainer::fit.
///
/// Archive contents: tensors "model.<name>" (the state dict: parameters and buffers) and
/// "optimizer.<name>" (Optimizer::state()); metadata "a2q.format" = "checkpoint", "a2q.version",
/// "epochs_completed", "model_type", "lr", plus whatever the caller adds (e.g. "data_seed").

#include "a2q/core/config.hpp"
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
A2Q_DECL void save_checkpoint(const std::filesystem::path& path, const nn::Module& model,
                              const Optimizer* optimizer, int epochs_completed,
                              const Metadata& extra_metadata = {});

/// Loads a checkpoint saved by save_checkpoint into `model` and, if given, `optimizer`.
///
/// All or nothing: if anything does not match (a missing or extra tensor, a shape, the optimizer's
/// kind), the model and optimizer keep their previous state.
/// @param optimizer may be null to load only the model (the checkpoint's optimizer state is ignored).
/// @throws io_error for an unreadable or corrupt file or one that is not a checkpoint (naming it);
///   config_error / shape_error (prefixed with the path) when the contents do not fit the model or
///   optimizer, or an optimizer is given but the checkpoint holds no optimizer state.
A2Q_DECL CheckpointInfo load_checkpoint(const std::filesystem::path& path, nn::Module& model,
                                        Optimizer* optimizer = nullptr);

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
  A2Q_DECL explicit CheckpointCallback(std::filesystem::path path, int every_n_epochs = 1,
                                       Metadata extra_metadata = {});

  A2Q_DECL void on_train_begin(const TrainInfo& info) override;

  A2Q_DECL void on_epoch_end(const EpochStats& stats,
                             const std::optional<EvalResult>& /*validation*/) override;

  A2Q_DECL void on_train_end(const FitResult& /*result*/) override;

  const std::filesystem::path& path() const { return path_; }
  /// Epochs completed at the last save in this fit, -1 if none yet.
  int last_saved_epochs() const { return last_saved_; }
  /// Number of saves so far.
  int saves() const { return saves_; }

private:
  A2Q_DECL void save(int epochs_completed);

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

#if A2Q_HEADER_ONLY
#include "a2q/train/checkpoint.ipp"
#endif
