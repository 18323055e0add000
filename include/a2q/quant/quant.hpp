#pragma once
/// @file
/// Umbrella header for quantization: accumulator bounds, rounding modes, integer formats, the fake
/// quantizer (with autograd) and scale initialisation.

// clang-format off
#include "a2q/quant/bounds.hpp"
#include "a2q/quant/rounding.hpp"
#include "a2q/quant/int_format.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/relu_quantize_pool.hpp"
#include "a2q/quant/scale_init.hpp"
// clang-format on
