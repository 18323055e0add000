#pragma once
/// @file
/// Finite-difference gradient check: compares the autograd gradient of a scalar function with
/// central differences, element by element. Used by the tests; useful for custom operations too.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

#include <functional>
#include <string>
#include <vector>

namespace a2q {

/// Result of a gradient check: the worst element and where it is.
struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  std::string worst; ///< "input 1, element 7: autograd 0.25, numeric 0.2499"
};

/// Checks d f(inputs) / d inputs for every element of every input that requires a gradient.
/// Work in float, so use moderate step sizes (the defaults suit values of order 1).
/// @param f must return a scalar Var built from `inputs` by autograd operations
A2Q_DECL GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f,
                                   std::vector<Var> inputs, double step = 1e-2, double abs_tol = 2e-3,
                                   double rel_tol = 2e-2);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/gradcheck.ipp"
#endif
