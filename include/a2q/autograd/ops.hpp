#pragma once
/// @file
/// All autograd operations: the Var core, element-wise, dense, convolution, pooling, batch norm,
/// shape, dropout and loss operations, the gradient checker, the per-operation profiler and the choice of
/// float backend.

// clang-format off
#include "a2q/autograd/variable.hpp"
#include "a2q/autograd/profiler.hpp"
#include "a2q/autograd/backend.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/linear.hpp"
#include "a2q/autograd/im2col.hpp"
#include "a2q/autograd/conv.hpp"
#include "a2q/autograd/conv_pool.hpp"
#include "a2q/autograd/pool.hpp"
#include "a2q/autograd/batch_norm.hpp"
#include "a2q/autograd/shape_ops.hpp"
#include "a2q/autograd/dropout.hpp"
#include "a2q/autograd/loss.hpp"
#include "a2q/autograd/gradcheck.hpp"
// clang-format on
