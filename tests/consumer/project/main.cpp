// Uses every public function of the foundation through the installed (or added) package.
#include <a2q/a2q.hpp>
#include <a2q/core/eigen_view.hpp>

#include <array>
#include <cstdint>
#include <iostream>

int main() {
  int failures = 0;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      std::cerr << "FAILED: " << what << "\n";
      ++failures;
    }
  };

  expect(a2q::datatype_bound_bits(576, 8, 8, false) == 26, "datatype_bound_bits");
  expect(a2q::a2q_l1_limit(16, 8, false) > 127.0 && a2q::a2q_l1_limit(16, 8, false) < 128.5, "a2q_l1_limit");
  expect(a2q::a2q_plus_l1_limit(16, 8) > 256.9 && a2q::a2q_plus_l1_limit(16, 8) < 257.0, "a2q_plus_l1_limit");

  const std::array<std::int32_t, 3> q{3, -2, 1};
  const auto x = a2q::InputRange::of_bits(4, false);
  const a2q::AccumulatorRange r = a2q::worst_case_accumulator(q, x);
  expect(r.lo == -30 && r.hi == 60, "worst_case_accumulator");
  expect(a2q::required_accumulator_bits(q, x) == 7, "required_accumulator_bits");
  expect(a2q::required_accumulator_bits(q, x, std::int64_t{100}) == 9, "required_accumulator_bits with bias");
  const auto tiled = a2q::tiled_accumulator_bits(q, x, 2);
  expect(tiled.tiles == 2 && tiled.inner_bits == 7, "tiled_accumulator_bits");

  a2q::Rng rng(2026);
  auto t = a2q::Tensor<float>::normal(a2q::Shape{4, 8}, 0.0, 1.0, rng);
  expect(as_matrix(t).rows() == 4, "as_matrix");
  try {
    (void)t.at(4, 0);
    expect(false, "Tensor::at bounds check");
  } catch (const a2q::shape_error&) {
  }
  try {
    (void)a2q::datatype_bound_bits(0, 8, 8, false);
    expect(false, "config_error on K = 0");
  } catch (const a2q::config_error&) {
  }

  // Functions defined in the .ipp files: compiled here when header-only, linked from a2q::compiled
  // otherwise.
  expect(a2q::quant::parse_rounding_mode("toward_zero") == a2q::quant::RoundingMode::toward_zero,
         "parse_rounding_mode");
  const a2q::Tensor<float> rounded = a2q::quant::round_tensor(t, a2q::quant::RoundingMode::toward_zero);
  expect(rounded.shape() == t.shape() && rounded[0] == static_cast<float>(static_cast<int>(t[0])),
         "round_tensor");

  if (failures != 0)
    return 1;
  std::cout << "a2q consumer ok (a2q " << A2Q_VERSION_STRING << ", "
            << (A2Q_HEADER_ONLY ? "header-only" : "separately compiled") << ")\n";
  return 0;
}
