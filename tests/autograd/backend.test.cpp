#include "a2q/autograd/backend.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gemm.hpp"
#include "a2q/autograd/linear.hpp"
#include "a2q/core/rng.hpp"

#include "close.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using a2q::FloatBackend;
using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

using a2q_test::BackendRestorer;
using a2q_test::require_close;

namespace {

std::vector<FloatBackend> backends() {
  if (a2q::onednn_available)
    return {FloatBackend::eigen, FloatBackend::onednn};
  return {FloatBackend::eigen};
}

} // namespace

TEST_CASE("a build without oneDNN refuses to select it", "[autograd][backend]") {
  const BackendRestorer restore;
  if constexpr (a2q::onednn_available) {
    a2q::set_float_backend(FloatBackend::onednn);
    CHECK(a2q::float_backend() == FloatBackend::onednn);
  } else {
    CHECK_THROWS_AS(a2q::set_float_backend(FloatBackend::onednn), a2q::config_error);
    CHECK(a2q::float_backend() == FloatBackend::eigen);
  }
  a2q::set_float_backend(FloatBackend::eigen);
  CHECK(a2q::float_backend() == FloatBackend::eigen);
}

TEST_CASE("gemm computes every transposition on every backend", "[autograd][backend]") {
  const BackendRestorer restore;
  a2q::Rng rng(11);
  const std::int64_t m = 7, n = 13, k = 33;
  for (const FloatBackend backend : backends()) {
    a2q::set_float_backend(backend);
    for (const bool ta : {false, true})
      for (const bool tb : {false, true}) {
        INFO("backend " << static_cast<int>(backend) << ", transpose a " << ta << ", transpose b " << tb);
        const Tensor<float> a = Tensor<float>::uniform(ta ? Shape{k, m} : Shape{m, k}, -1.0f, 1.0f, rng);
        const Tensor<float> b = Tensor<float>::uniform(tb ? Shape{n, k} : Shape{k, n}, -1.0f, 1.0f, rng);
        Tensor<float> expected(Shape{m, n});
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) {
            double sum = 0.0;
            for (std::int64_t l = 0; l < k; ++l)
              sum += double{ta ? a(l, i) : a(i, l)} * double{tb ? b(j, l) : b(l, j)};
            expected(i, j) = static_cast<float>(sum);
          }
        Tensor<float> c(Shape{m, n}, 99.0f); // overwritten, not accumulated into
        a2q::detail::gemm(ta, tb, m, n, k, a.data(), b.data(), c.data());
        require_close(c, expected, 1e-5f);
      }
  }
}

TEST_CASE("linear and matmul give the same values and gradients on every backend", "[autograd][backend]") {
  const BackendRestorer restore;
  a2q::Rng rng(12);
  const Tensor<float> xt = Tensor<float>::uniform(Shape{130, 784}, -1.0f, 1.0f, rng);
  const Tensor<float> wt = Tensor<float>::uniform(Shape{256, 784}, -0.1f, 0.1f, rng);
  const Tensor<float> bt = Tensor<float>::uniform(Shape{256}, -1.0f, 1.0f, rng);
  const Tensor<float> mt = Tensor<float>::uniform(Shape{256, 9}, -1.0f, 1.0f, rng);
  const Tensor<float> rt = Tensor<float>::uniform(Shape{130, 9}, -1.0f, 1.0f, rng);
  std::vector<std::vector<Tensor<float>>> results;
  for (const FloatBackend backend : backends()) {
    a2q::set_float_backend(backend);
    const Var x(xt, true), w(wt, true), b(bt, true), m(mt, true);
    const Var y = a2q::matmul(a2q::linear(x, w, b), m);
    a2q::sum(a2q::mul(y, Var(rt))).backward();
    results.push_back({y.value(), x.grad(), w.grad(), b.grad(), m.grad()});
  }
  // The eigen result against a direct computation of the forward value, then every backend against it.
  Tensor<float> expected(Shape{130, 9});
  for (std::int64_t i = 0; i < 130; ++i)
    for (std::int64_t j = 0; j < 9; ++j) {
      double sum = 0.0;
      for (std::int64_t h = 0; h < 256; ++h) {
        double hidden = bt[h];
        for (std::int64_t l = 0; l < 784; ++l)
          hidden += double{xt(i, l)} * double{wt(h, l)};
        sum += hidden * double{mt(h, j)};
      }
      expected(i, j) = static_cast<float>(sum);
    }
  require_close(results[0][0], expected, 1e-4f);
  for (std::size_t r = 1; r < results.size(); ++r)
    for (std::size_t i = 0; i < results[0].size(); ++i) {
      INFO("result " << i);
      require_close(results[r][i], results[0][i], 1e-4f);
    }
}
