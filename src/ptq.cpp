// a2q::compiled: post-training quantization, compiled once (see a2q/core/config.hpp).

#include "a2q/ptq/group_quantizer.ipp"
#include "a2q/ptq/layer_statistics.ipp"
#include "a2q/ptq/quantize_model.ipp"
#include "a2q/ptq/scale_search.ipp"
