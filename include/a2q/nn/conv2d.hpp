#pragma once
/// @file
/// nn::Conv2d: 2-D convolution with stride, zero padding and groups (depthwise included).

#include "a2q/autograd/conv.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

/// Convolution with weight [C_out, C_in / groups, kh, kw] and optional bias [C_out].
class Conv2d : public Module {
public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size, Rng& rng,
         Conv2dOptions options = {}, bool with_bias = true)
      : Conv2d(in_channels, out_channels, kernel_size, kernel_size, rng, options, with_bias) {}

  A2Q_DECL Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_h,
                  std::int64_t kernel_w, Rng& rng, Conv2dOptions options = {}, bool with_bias = true);

  Var forward(const Var& x) override { return conv2d(x, weight, bias, options_); }
  std::string type_name() const override { return "Conv2d"; }

  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  const Conv2dOptions& options() const { return options_; }

  Var weight;
  Var bias; ///< undefined when constructed without bias

private:
  std::int64_t in_channels_;
  std::int64_t out_channels_;
  Conv2dOptions options_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/conv2d.ipp"
#endif
