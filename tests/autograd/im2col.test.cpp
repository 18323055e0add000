#include "a2q/autograd/im2col.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::detail::Conv2dGeometry;

namespace {

// Geometries covering padding, strides, non-square images and kernels, the identity lowering, the
// shifted-copy path (stride 1, same width) and taps that only ever see padding.
std::vector<Conv2dGeometry> geometries() {
  return {
      {2, 5, 7, 3, 3, 1, 1, 1, 1}, {3, 6, 5, 2, 3, 2, 2, 1, 1}, {1, 4, 4, 1, 1, 1, 1, 0, 0},
      {2, 5, 4, 1, 1, 2, 2, 0, 0}, {2, 3, 4, 2, 2, 1, 1, 2, 2}, {1, 7, 6, 3, 2, 3, 2, 1, 0},
      {2, 3, 3, 3, 3, 1, 1, 0, 0}, {1, 1, 3, 3, 3, 2, 2, 1, 1}, {2, 6, 5, 3, 3, 2, 1, 1, 1},
      {2, 4, 6, 3, 5, 1, 1, 1, 2}, {1, 2, 2, 5, 5, 1, 1, 4, 4},
  };
}

/// The definition: entry (row (c, i, j), column (oh, ow)) is pixel (c, oh s - p + i, ow s - p + j), or pad.
template <class T>
std::vector<T> reference_im2col(const std::vector<T>& image, const Conv2dGeometry& g, T pad_value) {
  const std::int64_t oh_n = g.out_h(), ow_n = g.out_w();
  std::vector<T> col;
  for (std::int64_t c = 0; c < g.channels; ++c)
    for (std::int64_t i = 0; i < g.kernel_h; ++i)
      for (std::int64_t j = 0; j < g.kernel_w; ++j)
        for (std::int64_t oh = 0; oh < oh_n; ++oh)
          for (std::int64_t ow = 0; ow < ow_n; ++ow) {
            const std::int64_t ih = oh * g.stride_h - g.pad_h + i, iw = ow * g.stride_w - g.pad_w + j;
            const bool inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width;
            col.push_back(inside ? image[static_cast<std::size_t>((c * g.height + ih) * g.width + iw)]
                                 : pad_value);
          }
  return col;
}

} // namespace

TEST_CASE("im2col matches its definition", "[autograd][im2col]") {
  a2q::Rng rng(201);
  for (const Conv2dGeometry& g : geometries()) {
    INFO("channels " << g.channels << ", image " << g.height << "x" << g.width << ", kernel " << g.kernel_h
                     << "x" << g.kernel_w << ", stride " << g.stride_h << ", padding " << g.pad_h);
    const std::int64_t pixels = g.channels * g.height * g.width;
    REQUIRE(g.col_rows() * g.col_cols() > 0);

    std::vector<float> image(static_cast<std::size_t>(pixels));
    for (float& v : image)
      v = static_cast<float>(rng.uniform(-1.0, 1.0));
    std::vector<float> col(static_cast<std::size_t>(g.col_rows() * g.col_cols()), 99.0f);
    a2q::detail::im2col(image.data(), g, col.data());
    CHECK(col == reference_im2col(image, g, 0.0f));

    // Integer images with a zero point as the padding value (the integer engine's use).
    std::vector<std::int32_t> qimage(static_cast<std::size_t>(pixels));
    for (std::int32_t& v : qimage)
      v = static_cast<std::int32_t>(rng.uniform_int(-128, 127));
    std::vector<std::int32_t> qcol(col.size(), 12345);
    a2q::detail::im2col(qimage.data(), g, qcol.data(), std::int32_t{-7});
    CHECK(qcol == reference_im2col(qimage, g, std::int32_t{-7}));

    if (g.is_identity())
      CHECK(qcol == qimage);
  }
}

TEST_CASE("col2im is the adjoint of im2col", "[autograd][im2col]") {
  // <im2col(x), C> == <x, col2im(C)> for every x and C; exact in integers.
  a2q::Rng rng(202);
  for (const Conv2dGeometry& g : geometries()) {
    const auto pixels = static_cast<std::size_t>(g.channels * g.height * g.width);
    const auto entries = static_cast<std::size_t>(g.col_rows() * g.col_cols());
    std::vector<std::int64_t> x(pixels), c(entries), col(entries);
    for (auto& v : x)
      v = rng.uniform_int(-50, 50);
    for (auto& v : c)
      v = rng.uniform_int(-50, 50);
    a2q::detail::im2col(x.data(), g, col.data());
    std::vector<std::int64_t> back(pixels, 0);
    a2q::detail::col2im(c.data(), g, back.data());
    std::int64_t lhs = 0, rhs = 0;
    for (std::size_t i = 0; i < entries; ++i)
      lhs += col[i] * c[i];
    for (std::size_t i = 0; i < pixels; ++i)
      rhs += x[i] * back[i];
    CHECK(lhs == rhs);

    // col2im accumulates: a second call doubles the result.
    std::vector<std::int64_t> twice = back;
    a2q::detail::col2im(c.data(), g, twice.data());
    for (std::size_t i = 0; i < pixels; ++i)
      REQUIRE(twice[i] == 2 * back[i]);
  }
}

TEST_CASE("conv geometry sizes and valid ranges", "[autograd][im2col]") {
  const Conv2dGeometry g{3, 5, 7, 3, 2, 2, 2, 1, 1};
  CHECK(g.out_h() == 3);
  CHECK(g.out_w() == 4);
  CHECK(g.col_rows() == 18);
  CHECK(g.col_cols() == 12);
  CHECK_FALSE(g.is_identity());
  CHECK(Conv2dGeometry{2, 3, 3, 5, 5, 1, 1, 0, 0}.out_h() == 0); // kernel does not fit
  // Output positions o with 0 <= o * stride - pad + tap < extent.
  for (std::int64_t extent : {1, 4, 7})
    for (std::int64_t stride : {1, 2, 3})
      for (std::int64_t pad : {0, 1, 2})
        for (std::int64_t tap = 0; tap < 3; ++tap) {
          const std::int64_t out = Conv2dGeometry::out_extent(extent, pad, 3, stride);
          const auto [lo, hi] = a2q::detail::valid_output_range(extent, out, stride, pad, tap);
          for (std::int64_t o = 0; o < out; ++o) {
            const std::int64_t in = o * stride - pad + tap;
            INFO("extent " << extent << ", stride " << stride << ", pad " << pad << ", tap " << tap << ", o "
                           << o);
            CHECK((in >= 0 && in < extent) == (o >= lo && o < hi));
          }
        }
}
