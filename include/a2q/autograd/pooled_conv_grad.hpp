#pragma once
/// @file
/// The weight and input gradients of a 3x3 convolution whose output goes through max pooling over windows
/// that do not overlap (conv2d_relu_max_pool2d and its quantized twin). Each window passes its gradient to
/// one output position, its argmax, so the convolution's output gradient holds at most one non-zero per
/// window: a quarter of the positions for 2x2 windows, fewer where the ReLU zeroed a window. Summing over
/// those positions alone takes a quarter of the dense gradients' multiply-adds (and about half of
/// Winograd's), and the dense output gradient is never written. Images are read and input gradients added
/// channels-last, so that one vector holds plane_lanes input channels at one position and a window's nine
/// taps are nine vector loads; a single input channel (an image's first layer) has its own loop.

#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/direct_conv.hpp"
#include "a2q/autograd/pool_kernels.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

namespace a2q::detail {

/// Whether PooledConvGrad computes the gradients of convolution `p` followed by pooling `q`: ungrouped 3x3
/// kernels, and pooling windows that do not overlap (each output position belongs to at most one window, so
/// it takes at most one window's gradient). The input channels come in whole vectors, or there is one of
/// them (an image's first layer) and no input gradient is needed.
inline bool pooled_conv_grad_pays(const Conv2dPlan& p, const Pool2dPlan& q, bool need_dx) {
  const Conv2dGeometry& g = p.geometry;
  const bool channels = p.in_channels % plane_lanes == 0 || (p.in_channels == 1 && !need_dx);
  return p.groups == 1 && channels && g.kernel_h == 3 && g.kernel_w == 3 && q.kernel >= 2 &&
         q.stride >= q.kernel && q.padding == 0 && q.height == p.out_h && q.width == p.out_w;
}

/// One thread's gradients of a convolution and pooling (pooled_conv_grad_pays), a slice of up to `images`
/// images at a time: gather() the slice's non-zero window gradients, then weight_grad() and input_grad().
/// Both take one image at a time through a zero-padded channels-last buffer that stays in L1 (with the
/// slice's images in it at once, each output channel's pass went through L2, and the input gradient's
/// loads and stores waited on it).
class PooledConvGrad {
public:
  PooledConvGrad(const Conv2dPlan& p, const Pool2dPlan& q, std::int64_t images)
      : plan_(p), padded_w_(p.geometry.width + 2 * p.geometry.pad_w), row_(padded_w_ * p.in_channels),
        image_floats_((p.geometry.height + 2 * p.geometry.pad_h) * row_), windows_(q.out_h * q.out_w),
        window_start_(static_cast<std::size_t>(p.positions)),
        at_(static_cast<std::size_t>(images * p.out_channels * windows_)), values_(at_.size()),
        counts_(static_cast<std::size_t>(images * p.out_channels)), window_of_(window_start_.size()),
        mask_words_((p.out_channels + 63) / 64),
        masks_(window_start_.size() * static_cast<std::size_t>(mask_words_)),
        // One channel's rows are read four floats at a time, one past the window: a vector of slack.
        image_(Shape{image_floats_ + plane_lanes}), sums_(Shape{p.out_channels * p.in_channels * 12}) {
    const Conv2dGeometry& g = p.geometry;
    for (std::int64_t oh = 0; oh < p.out_h; ++oh)
      for (std::int64_t ow = 0; ow < p.out_w; ++ow) {
        const auto at = static_cast<std::size_t>(oh * p.out_w + ow);
        window_start_[at] = oh * g.stride_h * row_ + ow * g.stride_w * p.in_channels;
        // Positions past the last window (ragged pooling) never take a gradient.
        window_of_[at] = static_cast<std::int32_t>(std::min(oh / q.stride, q.out_h - 1) * q.out_w +
                                                   std::min(ow / q.stride, q.out_w - 1));
      }
  }

  /// Keeps the non-zero window gradients of a slice of `batch` images: grads [batch, K, windows], each
  /// going to the output position argmax [batch, K, windows] of its window (an index into an output
  /// plane), in window order. input_grad() reads `grads` again.
  void gather(std::int64_t batch, const std::int32_t* argmax, const float* grads) {
    batch_ = batch;
    argmax_ = argmax;
    grads_ = grads;
    if (plan_.in_channels == 1) // weight_grad_one_channel() reads every window: its work is smaller
      return;                   // than the gathering's
    for (std::int64_t plane = 0; plane < batch * plan_.out_channels; ++plane) {
      const std::int32_t* from = argmax + plane * windows_;
      const float* grad = grads + plane * windows_;
      std::int32_t* at = at_.data() + plane * windows_;
      float* value = values_.data() + plane * windows_;
      std::int64_t count = 0;
      for (std::int64_t i = 0; i < windows_; ++i) { // written always, kept if non-zero: no branch
        at[count] = from[i];
        value[count] = grad[i];
        count += grad[i] != 0.0f ? 1 : 0;
      }
      counts_[static_cast<std::size_t>(plane)] = count;
    }
  }

  /// dw [K, C, 3, 3] (overwritten) from the gathered gradients and the slice's images x [batch, C, H, W].
  /// Each weight's sum runs over the slice in float, image by image in window order.
  void weight_grad(const float* x, float* dw) {
    if (plan_.in_channels == 1) {
      weight_grad_one_channel(x, dw);
      return;
    }
    const std::int64_t C = plan_.in_channels, K = plan_.out_channels;
    // sums_ [K][C / plane_lanes][9][plane_lanes]: the vectors of nine taps, kept from one image to the next.
    std::fill(sums_.data(), sums_.data() + sums_.numel(), 0.0f);
    for (std::int64_t n = 0; n < batch_; ++n) {
      to_channels_last(x + n * plan_.in_size(), image_.data()); // its padding stays zero
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t c = 0; c < C; c += plane_lanes) {
          float* sums = sums_.data() + (k * C + c) * 9;
          PlaneFloats acc[9];
          for (int t = 0; t < 9; ++t)
            acc[t] = load_lanes(sums + t * plane_lanes);
          for_each_gradient(n * K + k, c, static_cast<const float*>(image_.data()),
                            [&](const PlaneFloats& v, const float* const(&rows)[3]) {
#pragma GCC unroll 3
                              for (int r = 0; r < 3; ++r) {
                                acc[3 * r] += v * load_lanes(rows[r]);
                                acc[3 * r + 1] += v * load_lanes(rows[r] + C);
                                acc[3 * r + 2] += v * load_lanes(rows[r] + 2 * C);
                              }
                            });
          for (int t = 0; t < 9; ++t)
            store_lanes(sums + t * plane_lanes, acc[t]);
        }
    }
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t c = 0; c < C; c += plane_lanes) {
        const float* sums = sums_.data() + (k * C + c) * 9;
        float* out = dw + (k * C + c) * 9;
        for (std::int64_t lane = 0; lane < plane_lanes; ++lane)
          for (int t = 0; t < 9; ++t)
            out[lane * 9 + t] = sums[t * plane_lanes + lane];
      }
  }

  /// dx [batch, C, H, W] (overwritten) from the gathered gradients and the weights w [K, C, 3, 3]; needs
  /// whole vectors of input channels. An image's gradients are taken position by position: the kernels of
  /// the output channels whose argmax is there, times their gradients, are summed in registers and then
  /// added into the padded channels-last input gradient once (adding each gradient's kernels into memory
  /// one by one waited on the loads and stores).
  void input_grad(const float* w, float* dx) {
    const std::int64_t C = plan_.in_channels, K = plan_.out_channels;
    // sums_ as weight_grad's layout, holding the kernels: tap t of channels [c, c + plane_lanes) together.
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t c = 0; c < C; c += plane_lanes)
        for (int t = 0; t < 9; ++t)
          for (std::int64_t lane = 0; lane < plane_lanes; ++lane)
            sums_[((k * C + c) * 9) + t * plane_lanes + lane] = w[(k * C + c + lane) * 9 + t];
    for (std::int64_t n = 0; n < batch_; ++n) {
      std::fill(image_.data(), image_.data() + image_floats_, 0.0f);
      mark_channels(n);
      const float* grads = grads_ + n * K * windows_;
      for (std::size_t position = 0; position < window_start_.size(); ++position) {
        const std::uint64_t* mask = masks_.data() + position * static_cast<std::size_t>(mask_words_);
        if (std::all_of(mask, mask + mask_words_, [](std::uint64_t word) { return word == 0; }))
          continue;
        const float* window_grads = grads + window_of_[position];
        float* top = image_.data() + window_start_[position];
        for (std::int64_t c = 0; c < C; c += plane_lanes) {
          PlaneFloats acc[9] = {};
          for (std::int64_t word = 0; word < mask_words_; ++word)
            for (std::uint64_t bits = mask[word]; bits != 0; bits &= bits - 1) {
              const std::int64_t k = word * 64 + std::countr_zero(bits);
              const PlaneFloats v = PlaneFloats{} + window_grads[k * windows_];
              const float* taps = sums_.data() + (k * C + c) * 9;
#pragma GCC unroll 9
              for (int t = 0; t < 9; ++t)
                acc[t] += v * load_lanes(taps + t * plane_lanes);
            }
#pragma GCC unroll 3
          for (int r = 0; r < 3; ++r)
#pragma GCC unroll 3
            for (int j = 0; j < 3; ++j) {
              float* at = top + r * row_ + j * C + c;
              store_lanes(at, load_lanes(at) + acc[3 * r + j]);
            }
        }
      }
      from_channels_last(image_.data(), dx + n * plan_.in_size());
    }
    // The next weight_grad() needs the padding of image_ zero again, which this pass wrote.
    std::fill(image_.data(), image_.data() + image_floats_, 0.0f);
  }

private:
  /// weight_grad() with one input channel, from every window's gradient (zeros included, as the dense sum
  /// has them): a window's row is three floats, read as four (the fourth lane's products are dropped), and
  /// two windows at a time keep two sets of three sums in flight.
  void weight_grad_one_channel(const float* x, float* dw) {
    using Quad = float __attribute__((vector_size(4 * sizeof(float))));
    const auto load_quad = [](const float* from) {
      Quad v;
      std::memcpy(&v, from, sizeof v);
      return v;
    };
    const std::int64_t K = plan_.out_channels;
    // sums_ [K][3 rows][4]: kept from one image to the next.
    std::fill(sums_.data(), sums_.data() + sums_.numel(), 0.0f);
    for (std::int64_t n = 0; n < batch_; ++n) {
      to_channels_last(x + n * plan_.in_size(), image_.data()); // its padding stays zero
      const float* image = image_.data();
      for (std::int64_t k = 0; k < K; ++k) {
        const std::int64_t plane = n * K + k;
        const std::int32_t* at = argmax_ + plane * windows_;
        const float* value = grads_ + plane * windows_;
        const std::int64_t count = windows_;
        float* sums = sums_.data() + k * 12;
        Quad acc[2][3] = {};
        for (int r = 0; r < 3; ++r)
          acc[0][r] = load_quad(sums + 4 * r);
        const auto add = [&](int set, std::int64_t i) {
          const float* top = image + window_start_[static_cast<std::size_t>(at[i])];
          const Quad v = Quad{} + value[i];
#pragma GCC unroll 3
          for (int r = 0; r < 3; ++r)
            acc[set][r] += v * load_quad(top + r * row_);
        };
        std::int64_t i = 0;
        for (; i + 2 <= count; i += 2) {
          add(0, i);
          add(1, i + 1);
        }
        if (i < count)
          add(0, i);
        for (int r = 0; r < 3; ++r) {
          const Quad sum = acc[0][r] + acc[1][r];
          std::memcpy(sums + 4 * r, &sum, sizeof sum);
        }
      }
    }
    for (std::int64_t k = 0; k < K; ++k)
      for (int t = 0; t < 9; ++t)
        dw[k * 9 + t] = sums_[k * 12 + (t / 3) * 4 + t % 3];
  }

  /// masks_: per output position, a bit for each output channel with a gathered gradient there in image n.
  void mark_channels(std::int64_t n) {
    const std::int64_t K = plan_.out_channels;
    std::fill(masks_.begin(), masks_.end(), 0);
    for (std::int64_t k = 0; k < K; ++k) {
      const std::int64_t plane = n * K + k;
      const std::int32_t* at = at_.data() + plane * windows_;
      std::uint64_t* word = masks_.data() + k / 64;
      const std::uint64_t bit = std::uint64_t{1} << (k % 64);
      for (std::int64_t i = 0; i < counts_[static_cast<std::size_t>(plane)]; ++i)
        word[static_cast<std::size_t>(at[i]) * static_cast<std::size_t>(mask_words_)] |= bit;
    }
  }

  /// body(v, rows) for each gathered gradient v of plane (image n, output channel k) = n * K + k, rows being
  /// the three rows of its window in `image` (a padded channels-last image), at channel c.
  template <class Float, class Body>
  void for_each_gradient(std::int64_t plane, std::int64_t c, Float* image, Body&& body) const {
    const std::int32_t* at = at_.data() + plane * windows_;
    const float* value = values_.data() + plane * windows_;
    const std::int64_t count = counts_[static_cast<std::size_t>(plane)];
    for (std::int64_t i = 0; i < count; ++i) {
      // Three row pointers and column steps of C: nine offsets held in registers would spill.
      Float* top = image + window_start_[static_cast<std::size_t>(at[i])] + c;
      Float* const rows[3] = {top, top + row_, top + 2 * row_};
      body(PlaneFloats{} + value[i], rows);
    }
  }

  /// image [C, H, W] into the interior of its padded channels-last copy `to`.
  void to_channels_last(const float* image, float* to) const {
    const Conv2dGeometry& g = plan_.geometry;
    const std::int64_t C = plan_.in_channels;
    if (C == 1) {
      for (std::int64_t h = 0; h < g.height; ++h)
        copy_floats(image + h * g.width, g.width, to + (h + g.pad_h) * row_ + g.pad_w);
      return;
    }
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t h = 0; h < g.height; ++h) {
        const float* in = image + (c * g.height + h) * g.width;
        float* out = to + (h + g.pad_h) * row_ + g.pad_w * C + c;
        for (std::int64_t x = 0; x < g.width; ++x)
          out[x * C] = in[x];
      }
  }

  /// The interior of a padded channels-last image `from` into image [C, H, W].
  void from_channels_last(const float* from, float* image) const {
    const Conv2dGeometry& g = plan_.geometry;
    const std::int64_t C = plan_.in_channels;
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t h = 0; h < g.height; ++h) {
        const float* in = from + (h + g.pad_h) * row_ + g.pad_w * C + c;
        float* out = image + (c * g.height + h) * g.width;
        for (std::int64_t x = 0; x < g.width; ++x)
          out[x] = in[x * C];
      }
  }

  Conv2dPlan plan_;
  std::int64_t padded_w_, row_, image_floats_, windows_;
  std::vector<std::int64_t> window_start_; ///< per output position: its window's start in a padded image
  std::vector<std::int32_t> at_;           ///< per plane: its kept gradients' output positions
  std::vector<float> values_;              ///< per plane: its kept gradients
  std::vector<std::int64_t> counts_;       ///< per plane: how many it kept
  std::vector<std::int32_t> window_of_;    ///< per output position: its pooling window
  std::int64_t mask_words_;                ///< per output position: words of masks_
  std::vector<std::uint64_t> masks_;       ///< see mark_channels
  std::int64_t batch_ = 0;                 ///< the images of the slice gathered last
  const std::int32_t* argmax_ = nullptr;   ///< and their windows' argmax
  const float* grads_ = nullptr;           ///< and gradients
  Tensor<float> image_; ///< one padded channels-last image or input gradient (zeroed), and slack
  Tensor<float> sums_;  ///< weight-gradient sums, or the kernels, as vectors of taps
};

} // namespace a2q::detail
