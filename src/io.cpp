// a2q::compiled: model files and architectures, archives, JSON and C header writers, compiled once (see
// a2q/core/config.hpp).

#include "a2q/io/architecture.ipp"
#include "a2q/io/atomic_file.ipp"
#include "a2q/io/c_header.ipp"
#include "a2q/io/int_weights_json.ipp"
#include "a2q/io/json_file.ipp"
#include "a2q/io/model_file.ipp"
#include "a2q/io/model_io.ipp"
#include "a2q/io/quantized_architecture.ipp"
#include "a2q/io/tensor_archive.ipp"
