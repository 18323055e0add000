#pragma once
// ptq::LayerStatistics definitions (see layer_statistics.hpp).

#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"
#include "a2q/ptq/layer_statistics.hpp"

#include <string>

namespace a2q::ptq {

A2Q_DECL LayerStatistics::LayerStatistics(std::int64_t groups, std::int64_t K, bool with_float) {
  H.assign(static_cast<std::size_t>(groups), Eigen::MatrixXd::Zero(K, K));
  if (with_float)
    G.assign(static_cast<std::size_t>(groups), Eigen::MatrixXd::Zero(K, K));
}

A2Q_DECL void LayerStatistics::add(const LayerInputGeometry& geometry, const Tensor<float>& quantized,
                                   const Tensor<float>* float_input) {
  const bool with_float = !G.empty();
  if (with_float && (float_input == nullptr || float_input->shape() != quantized.shape()))
    throw shape_error("LayerStatistics: the float network's input " +
                      (float_input ? float_input->shape().to_string() : std::string("(none)")) +
                      " does not match the quantized network's " + quantized.shape().to_string());
  const std::int64_t K = geometry.fan_in;
  const std::int64_t batch = quantized.rank() > 0 ? quantized.dim(0) : 0;
  // Products in float per batch (fast), sums across batches in double (many batches).
  Eigen::MatrixXf h(K, K);
  Eigen::MatrixXf g(K, K);
  if (!geometry.conv) {
    if (quantized.rank() != 2 || quantized.dim(1) != K)
      throw shape_error("LayerStatistics: a linear layer with K = " + std::to_string(K) + " got input " +
                        quantized.shape().to_string());
    const auto xq = as_matrix(quantized);
    h.noalias() = xq.transpose() * xq;
    H[0] += h.cast<double>();
    if (with_float) {
      g.noalias() = xq.transpose() * as_matrix(*float_input);
      G[0] += g.cast<double>();
    }
    rows += batch;
    return;
  }
  const detail::Conv2dGeometry& m = geometry.map;
  const Shape expected{batch, m.channels * geometry.groups, m.height, m.width};
  if (quantized.shape() != expected || m.col_rows() != K)
    throw shape_error("LayerStatistics: a convolution expecting " + expected.to_string() + " got input " +
                      quantized.shape().to_string());
  const std::int64_t positions = m.col_cols();
  const std::int64_t plane = m.channels * m.height * m.width;
  RowMatrix<float> col_q(K, positions);
  RowMatrix<float> col_f(with_float ? K : 0, with_float ? positions : 0);
  for (std::int64_t group = 0; group < geometry.groups; ++group) {
    h.setZero();
    g.setZero();
    for (std::int64_t n = 0; n < batch; ++n) {
      const std::int64_t offset = (n * geometry.groups + group) * plane;
      detail::im2col(quantized.data() + offset, m, col_q.data());
      h.noalias() += col_q * col_q.transpose();
      if (with_float) {
        detail::im2col(float_input->data() + offset, m, col_f.data());
        g.noalias() += col_q * col_f.transpose();
      }
    }
    H[static_cast<std::size_t>(group)] += h.cast<double>();
    if (with_float)
      G[static_cast<std::size_t>(group)] += g.cast<double>();
  }
  rows += batch * positions;
}

} // namespace a2q::ptq
