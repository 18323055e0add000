// a2q::compiled: the trainer and its callbacks, compiled once (see a2q/core/config.hpp).

#include "a2q/train/checkpoint.ipp"
#include "a2q/train/csv_logger.ipp"
#include "a2q/train/early_stopping.ipp"
#include "a2q/train/progress_bar.ipp"
#include "a2q/train/trainer.ipp"
