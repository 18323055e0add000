#pragma once
/// @file
/// Umbrella header of the optimizers: the Optimizer base and parameter groups, SGD, Adam and AdamW,
/// learning-rate schedules and the weight-decay grouping helper.

// clang-format off
#include "a2q/optim/optimizer.hpp"
#include "a2q/optim/sgd.hpp"
#include "a2q/optim/adam.hpp"
#include "a2q/optim/schedule.hpp"
#include "a2q/optim/param_groups.hpp"
// clang-format on
