// a2q::compiled: the integer engine: conversion, kernels, verification, compiled once (see
// a2q/core/config.hpp).

#include "a2q/engine/adversarial.ipp"
#include "a2q/engine/integer_model.ipp"
#include "a2q/engine/integer_ops.ipp"
#include "a2q/engine/model_conversion.ipp"
#include "a2q/engine/reference_kernels.ipp"
#include "a2q/engine/simulate.ipp"
#include "a2q/engine/verify.ipp"
#include "a2q/engine/weight_compression.ipp"
