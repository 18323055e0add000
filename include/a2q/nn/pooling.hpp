#pragma once
/// @file
/// Pooling layers: MaxPool2d, AvgPool2d, GlobalAvgPool2d.

#include "a2q/autograd/pool.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

class MaxPool2d : public Module {
public:
  /// @param stride 0 means equal to the kernel size
  explicit MaxPool2d(int kernel, int stride = 0, int padding = 0)
      : kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {}
  Var forward(const Var& x) override { return max_pool2d(x, kernel_, stride_, padding_); }
  std::string type_name() const override { return "MaxPool2d"; }
  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }

private:
  int kernel_, stride_, padding_;
};

class AvgPool2d : public Module {
public:
  /// @param stride 0 means equal to the kernel size
  explicit AvgPool2d(int kernel, int stride = 0, int padding = 0)
      : kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {}
  Var forward(const Var& x) override { return avg_pool2d(x, kernel_, stride_, padding_); }
  std::string type_name() const override { return "AvgPool2d"; }
  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }

private:
  int kernel_, stride_, padding_;
};

/// [N, C, H, W] -> [N, C], the mean over each channel's plane.
class GlobalAvgPool2d : public Module {
public:
  Var forward(const Var& x) override { return global_avg_pool2d(x); }
  std::string type_name() const override { return "GlobalAvgPool2d"; }
};

} // namespace a2q::nn
