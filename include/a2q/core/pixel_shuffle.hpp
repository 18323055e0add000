#pragma once
/// @file
/// pixel_shuffle and pixel_unshuffle on tensors of any element type: the sub-pixel convolution's
/// rearrangement (Shi et al. 2016, ESPCN), PyTorch's order: [N, C·r², H, W] -> [N, C, H·r, W·r] with
/// out[n, c, h·r + i, w·r + j] = in[n, c·r² + i·r + j, h, w]. A permutation of the elements: training
/// (autograd/shape_ops.hpp) and the integer engine share it.

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <cstdint>
#include <string>

namespace a2q {

namespace detail {

/// Copies between the channel-stacked layout `stacked` [N, C·r², H, W] and the image layout `image`
/// [N, C, H·r, W·r]; `to_image` chooses the direction.
template <class T>
void pixel_shuffle_copy(T* stacked, T* image, std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W,
                        std::int64_t r, bool to_image) {
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < r; ++i)
        for (std::int64_t j = 0; j < r; ++j) {
          T* plane = stacked + ((n * C + c) * r * r + i * r + j) * H * W;
          T* target = image + (n * C + c) * H * r * W * r;
          for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t w = 0; w < W; ++w) {
              T& s = plane[h * W + w];
              T& d = target[(h * r + i) * W * r + w * r + j];
              if (to_image)
                d = s;
              else
                s = d;
            }
        }
}

inline void check_pixel_shuffle(const Shape& s, std::int64_t r) {
  if (s.rank() != 4)
    throw shape_error("pixel_shuffle: expected [N, C, H, W], got " + s.to_string());
  if (r < 1 || s[1] % (r * r) != 0)
    throw shape_error("pixel_shuffle: factor " + std::to_string(r) + " needs channels divisible by " +
                      std::to_string(r * r) + ", got " + s.to_string());
}

} // namespace detail

/// [N, C·r², H, W] -> [N, C, H·r, W·r].
/// @throws shape_error for another rank or channels not divisible by r²
template <class T>
Tensor<T> pixel_shuffle(const Tensor<T>& x, std::int64_t r) {
  detail::check_pixel_shuffle(x.shape(), r);
  const Shape& s = x.shape();
  Tensor<T> out = Tensor<T>::uninitialized(Shape{s[0], s[1] / (r * r), s[2] * r, s[3] * r});
  detail::pixel_shuffle_copy(const_cast<T*>(x.data()), out.data(), s[0], s[1] / (r * r), s[2], s[3], r, true);
  return out;
}

/// The inverse: [N, C, H·r, W·r] -> [N, C·r², H, W].
/// @throws shape_error for another rank or sides not divisible by r
template <class T>
Tensor<T> pixel_unshuffle(const Tensor<T>& y, std::int64_t r) {
  const Shape& s = y.shape();
  if (s.rank() != 4 || r < 1 || s[2] % r != 0 || s[3] % r != 0)
    throw shape_error("pixel_unshuffle: factor " + std::to_string(r) +
                      " needs [N, C, H, W] with H and W divisible "
                      "by it, got " +
                      s.to_string());
  Tensor<T> out = Tensor<T>::uninitialized(Shape{s[0], s[1] * r * r, s[2] / r, s[3] / r});
  detail::pixel_shuffle_copy(out.data(), const_cast<T*>(y.data()), s[0], s[1], s[2] / r, s[3] / r, r, false);
  return out;
}

} // namespace a2q
