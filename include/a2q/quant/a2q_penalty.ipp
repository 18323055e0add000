#pragma once
/// @file
/// Definitions for a2q_penalty.hpp (see a2q/core/config.hpp).

#include "a2q/quant/a2q_penalty.hpp"

#include "a2q/autograd/variable.hpp"

#include <cmath>
#include <numbers>
#include <span>
#include <vector>

namespace a2q::quant {

Var a2q_penalty(const Var& log2_g, const Var& log2_s, std::span<const double> budget) {
  const std::int64_t C = log2_g.value().numel();
  if (static_cast<std::int64_t>(budget.size()) != C ||
      (log2_s.value().numel() != C && log2_s.value().numel() != 1))
    throw shape_error("a2q_penalty: " + std::to_string(C) + " norms, " +
                      std::to_string(log2_s.value().numel()) + " scales and " +
                      std::to_string(budget.size()) + " budgets do not match");
  const bool shared = log2_s.value().numel() == 1;
  double total = 0.0;
  std::vector<unsigned char> active(static_cast<std::size_t>(C));
  std::vector<double> g(static_cast<std::size_t>(C)), sb(static_cast<std::size_t>(C));
  for (std::int64_t c = 0; c < C; ++c) {
    const auto i = static_cast<std::size_t>(c);
    g[i] = std::exp2(static_cast<double>(log2_g.value()[c]));
    sb[i] = std::exp2(static_cast<double>(log2_s.value()[shared ? 0 : c])) * budget[i];
    active[i] = g[i] > sb[i];
    if (active[i])
      total += g[i] - sb[i];
  }
  return a2q::detail::make_result(Tensor<float>(Shape{}, static_cast<float>(total)), {log2_g, log2_s},
                                  "a2q_penalty", [active, g, sb, shared](a2q::detail::Node& self) {
                                    const double up = self.grad[0];
                                    constexpr double ln2 = std::numbers::ln2;
                                    Tensor<float> dg(Shape{static_cast<std::int64_t>(g.size())});
                                    Tensor<float> ds(Shape{shared ? 1 : static_cast<std::int64_t>(g.size())});
                                    for (std::size_t c = 0; c < g.size(); ++c) {
                                      if (!active[c])
                                        continue;
                                      dg[static_cast<std::int64_t>(c)] = static_cast<float>(up * g[c] * ln2);
                                      ds[shared ? 0 : static_cast<std::int64_t>(c)] -=
                                          static_cast<float>(up * sb[c] * ln2);
                                    }
                                    a2q::detail::accumulate_grad(self, 0, std::move(dg));
                                    a2q::detail::accumulate_grad(self, 1, std::move(ds));
                                  });
}

} // namespace a2q::quant
