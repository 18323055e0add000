// a2q::compiled: the quantizers and A2Q/A2Q+ weights, compiled once (see a2q/core/config.hpp).

#include "a2q/quant/a2q_init.ipp"
#include "a2q/quant/a2q_penalty.ipp"
#include "a2q/quant/a2q_weight.ipp"
#include "a2q/quant/fake_quantize.ipp"
#include "a2q/quant/method.ipp"
#include "a2q/quant/relu_quantize_pool.ipp"
#include "a2q/quant/rounding.ipp"
#include "a2q/quant/scale_init.ipp"
