#pragma once
/// @file
/// Umbrella header of the training loop: Trainer and its callbacks (progress bar, CSV log, early
/// stopping, checkpoints). Needs zlib through the data loader: link the CMake target a2q::data.

// clang-format off
#include "a2q/train/callback.hpp"
#include "a2q/train/checkpoint.hpp"
#include "a2q/train/trainer.hpp"
#include "a2q/train/progress_bar.hpp"
#include "a2q/train/csv_logger.hpp"
#include "a2q/train/early_stopping.hpp"
// clang-format on
