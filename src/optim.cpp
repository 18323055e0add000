// a2q::compiled: the optimizers and schedules, compiled once (see a2q/core/config.hpp).

#include "a2q/optim/adam.ipp"
#include "a2q/optim/optimizer.ipp"
#include "a2q/optim/param_groups.ipp"
#include "a2q/optim/schedule.ipp"
#include "a2q/optim/sgd.ipp"
