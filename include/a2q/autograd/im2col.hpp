#pragma once
/// @file
/// im2col / col2im: the lowering that turns a 2-D convolution into one matrix product.
///
/// One image [channels, height, width] becomes a column matrix [channels * kh * kw, out_h * out_w]
/// (row-major): row (c * kh + i) * kw + j holds, for every output position, the input pixel that kernel
/// tap (i, j) of channel c sees there (or the padding value). A convolution with a weight in PyTorch's
/// layout [c_out, c_in, kh, kw], read as a row-major [c_out, c_in * kh * kw] matrix, is then
/// weight x columns = output [c_out, out_h * out_w], which is the output image itself. The rows of
/// one channel group are contiguous, so grouped convolutions use row blocks of the same matrix.
///
/// The helpers are templates so that the quantized layers and the integer engine reuse them on
/// integer images (with a zero point as padding value).

#include <algorithm>
#include <cstdint>
#include <utility>

namespace a2q::detail {

/// Geometry of a 2-D sliding window (dilation 1) over one image [channels, height, width].
struct Conv2dGeometry {
  std::int64_t channels = 1;
  std::int64_t height = 1;
  std::int64_t width = 1;
  std::int64_t kernel_h = 1;
  std::int64_t kernel_w = 1;
  std::int64_t stride_h = 1;
  std::int64_t stride_w = 1;
  std::int64_t pad_h = 0;
  std::int64_t pad_w = 0;

  /// Output height: floor((height + 2 pad_h - kernel_h) / stride_h) + 1, or 0 if the kernel does not fit.
  std::int64_t out_h() const { return out_extent(height, pad_h, kernel_h, stride_h); }
  /// Output width, as out_h().
  std::int64_t out_w() const { return out_extent(width, pad_w, kernel_w, stride_w); }
  /// Rows of the column matrix: channels * kernel_h * kernel_w.
  std::int64_t col_rows() const { return channels * kernel_h * kernel_w; }
  /// Columns of the column matrix: out_h * out_w.
  std::int64_t col_cols() const { return out_h() * out_w(); }
  /// Whether the column matrix equals the image (1x1 kernel, stride 1, no padding): im2col can be skipped.
  bool is_identity() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }

  static std::int64_t out_extent(std::int64_t extent, std::int64_t pad, std::int64_t kernel,
                                 std::int64_t stride) {
    const std::int64_t span = extent + 2 * pad - kernel;
    return span < 0 || stride < 1 ? 0 : span / stride + 1;
  }
};

/// Output positions o in [lo, hi) for which input index o * stride - pad + tap lies inside [0, extent);
/// the positions outside the range read padding.
inline std::pair<std::int64_t, std::int64_t> valid_output_range(std::int64_t extent, std::int64_t out,
                                                                std::int64_t stride, std::int64_t pad,
                                                                std::int64_t tap) {
  const std::int64_t first = pad - tap; // smallest o * stride that is in range
  const std::int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const std::int64_t last = extent - 1 + pad - tap; // largest o * stride that is in range
  const std::int64_t hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  return {std::min(lo, hi), hi};
}

/// Lowers one image [g.channels, g.height, g.width] into the column matrix
/// [g.col_rows(), g.col_cols()] (row-major, overwritten in full).
/// @tparam T element type (float for training; integer types for the integer engine)
/// @param pad_value value of the padding (0, or the zero point of an asymmetric quantizer)
template <class T>
void im2col(const T* image, const Conv2dGeometry& g, T* col, T pad_value = T{}) {
  const std::int64_t out_h = g.out_h();
  const std::int64_t out_w = g.out_w();
  const std::int64_t positions = out_h * out_w;
  const std::int64_t plane = g.height * g.width;
  // Stride 1 with "same" width: output index oh * out_w + ow and input index differ by a constant, so a
  // whole row of the column matrix is one contiguous copy, after which the entries that fell on the
  // padding columns are overwritten.
  const bool shifted_copy = g.stride_h == 1 && g.stride_w == 1 && out_w == g.width;
  for (std::int64_t c = 0; c < g.channels; ++c) {
    for (std::int64_t i = 0; i < g.kernel_h; ++i) {
      const auto [oh_lo, oh_hi] = valid_output_range(g.height, out_h, g.stride_h, g.pad_h, i);
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const auto [ow_lo, ow_hi] = valid_output_range(g.width, out_w, g.stride_w, g.pad_w, j);
        T* dst = col + ((c * g.kernel_h + i) * g.kernel_w + j) * positions;
        if (oh_lo == oh_hi || ow_lo == ow_hi) { // the tap only ever sees padding
          std::fill(dst, dst + positions, pad_value);
          continue;
        }
        // Input index read at output position (oh_lo, ow_lo).
        const std::int64_t origin =
            c * plane + (oh_lo * g.stride_h - g.pad_h + i) * g.width + (ow_lo * g.stride_w - g.pad_w + j);
        if (shifted_copy) {
          const std::int64_t first = oh_lo * out_w + ow_lo;
          const std::int64_t last = (oh_hi - 1) * out_w + ow_hi;
          std::fill(dst, dst + first, pad_value);
          std::copy(image + origin, image + origin + (last - first), dst + first);
          for (std::int64_t oh = oh_lo; oh + 1 < oh_hi; ++oh)
            std::fill(dst + oh * out_w + ow_hi, dst + (oh + 1) * out_w + ow_lo, pad_value);
          std::fill(dst + last, dst + positions, pad_value);
          continue;
        }
        if (oh_lo > 0 || oh_hi < out_h || ow_lo > 0 || ow_hi < out_w)
          std::fill(dst, dst + positions, pad_value);
        const std::int64_t len = ow_hi - ow_lo;
        for (std::int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          T* row = dst + oh * out_w + ow_lo;
          const T* src = image + origin + (oh - oh_lo) * g.stride_h * g.width;
          // Plain loops: short rows, and the compiler vectorises them without a library call per row.
          if (g.stride_w == 1) {
            for (std::int64_t k = 0; k < len; ++k)
              row[k] = src[k];
          } else {
            for (std::int64_t k = 0; k < len; ++k)
              row[k] = src[k * g.stride_w];
          }
        }
      }
    }
  }
}

/// The adjoint of im2col: adds every entry of the column matrix [g.col_rows(), g.col_cols()] into the
/// image pixel it was read from (entries that came from padding are dropped). `image` is accumulated
/// into, not overwritten: zero it first for a plain col2im.
template <class T>
void col2im(const T* col, const Conv2dGeometry& g, T* image) {
  const std::int64_t out_h = g.out_h();
  const std::int64_t out_w = g.out_w();
  const std::int64_t positions = out_h * out_w;
  const std::int64_t plane = g.height * g.width;
  for (std::int64_t c = 0; c < g.channels; ++c) {
    for (std::int64_t i = 0; i < g.kernel_h; ++i) {
      const auto [oh_lo, oh_hi] = valid_output_range(g.height, out_h, g.stride_h, g.pad_h, i);
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const auto [ow_lo, ow_hi] = valid_output_range(g.width, out_w, g.stride_w, g.pad_w, j);
        if (oh_lo == oh_hi || ow_lo == ow_hi)
          continue;
        const T* src = col + ((c * g.kernel_h + i) * g.kernel_w + j) * positions;
        const std::int64_t origin =
            c * plane + (oh_lo * g.stride_h - g.pad_h + i) * g.width + (ow_lo * g.stride_w - g.pad_w + j);
        const std::int64_t len = ow_hi - ow_lo;
        for (std::int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          const T* row = src + oh * out_w + ow_lo;
          T* dst = image + origin + (oh - oh_lo) * g.stride_h * g.width;
          if (g.stride_w == 1) {
            for (std::int64_t k = 0; k < len; ++k)
              dst[k] += row[k];
          } else {
            for (std::int64_t k = 0; k < len; ++k)
              dst[k * g.stride_w] += row[k];
          }
        }
      }
    }
  }
}

} // namespace a2q::detail
