// Fuzz harness: ONNX files, through both readers of them: the importer (PyTorch exports, QONNX) and the
// accumulator audit (QONNX, QDQ, QLinear and integer ops).

#include "fuzz_target.hpp"

#include <a2q/onnx/onnx_audit.hpp>
#include <a2q/onnx/onnx_import.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  a2q_fuzz::expect_clear_error([&] { (void)a2q::io::import_onnx_bytes(bytes, "fuzz.onnx"); });
  a2q_fuzz::expect_clear_error([&] { (void)a2q::io::audit_onnx_bytes(bytes, "fuzz.onnx"); });
  return 0;
}
