// a2q::compiled: the autograd operations, compiled once (see a2q/core/config.hpp).

#include "a2q/autograd/batch_norm.ipp"
#include "a2q/autograd/conv.ipp"
#include "a2q/autograd/conv_pool.ipp"
#include "a2q/autograd/dropout.ipp"
#include "a2q/autograd/elementwise.ipp"
#include "a2q/autograd/exp2.ipp"
#include "a2q/autograd/gradcheck.ipp"
#include "a2q/autograd/linear.ipp"
#include "a2q/autograd/loss.ipp"
#include "a2q/autograd/pool.ipp"
#include "a2q/autograd/shape_ops.ipp"
#include "a2q/autograd/variable.ipp"
