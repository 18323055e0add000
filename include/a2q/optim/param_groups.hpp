#pragma once
/// @file
/// a2q::decay_groups: splits named parameters into a weight-decay group and a no-decay group.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/optim/optimizer.hpp"

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace a2q {

/// Splits `named_params` into two groups, in this order:
///  - "decay": parameters whose name ends with "weight" and whose rank is >= 2 (dense and convolution
///    weights), with weight decay `weight_decay`;
///  - "no_decay": everything else (biases, normalisation weights of rank 1, quantizer scales, ...),
///    without weight decay.
/// Both groups are returned even when one is empty, so that optimizer state names stay stable.
/// Parameters keep their relative order within each group.
/// @param named_params (name, parameter) pairs as modules provide them; every Var must be defined.
/// @param weight_decay decay of the first group (finite, >= 0).
A2Q_DECL std::vector<ParamGroup> decay_groups(const std::vector<std::pair<std::string, Var>>& named_params,
                                              double weight_decay);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/optim/param_groups.ipp"
#endif
