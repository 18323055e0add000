#pragma once
/// @file
/// Winograd's F(2x2, 3x3) for the ungrouped 3x3 convolutions with stride 1 (the CNN's second layer, the
/// ResNet's blocks): each 2x2 tile of outputs costs 16 multiplies per input and output channel pair instead
/// of 36. For each of the 16 points xi of the transformed tile (winograd_transform.hpp), the sum over input
/// channels is a matrix product M[xi] = U[xi] V[xi] ([C_out, C_in] times [C_in, tiles]), taken a block of
/// tiles at a time (winograd_block_bytes) so that a block's V and M stay in the caches between the passes.
///
/// The input gradient is the same computation on dy with the kernels flipped and transposed; the weight
/// gradient is the transpose of the forward pass: dU[xi] = dM[xi] V[xi]^T, with dM = A dY A^T, then
/// dw = G^T dU G. The results differ from a direct convolution by rounding alone (tests: conv.test.cpp,
/// against sums in double). On the CNN's second layer, forward and backward together (Zen 3, one thread)
/// took 8.25 ms per batch of 128 against oneDNN's 11.15 ms (bench/conv_bench).

#include "a2q/autograd/backend.hpp"
#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/winograd_transform.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace a2q::detail {

/// When 3x3 convolutions run as Winograd: never, where it pays (the default), or always (tests, benchmarks).
enum class WinogradMode { off, automatic, always };

/// The mode from A2Q_WINOGRAD in the environment: "0" off, "1" always, unset or empty automatic; anything
/// else is refused.
inline WinogradMode winograd_mode_from_environment() {
  const char* value = std::getenv("A2Q_WINOGRAD");
  if (value == nullptr || *value == '\0')
    return WinogradMode::automatic;
  const std::string text(value);
  if (text == "0")
    return WinogradMode::off;
  if (text == "1")
    return WinogradMode::always;
  throw config_error("A2Q_WINOGRAD must be 0 (off) or 1 (always), or unset (where it pays), got '" + text +
                     "'");
}

inline std::atomic<WinogradMode>& winograd_mode() {
  static std::atomic<WinogradMode> mode{winograd_mode_from_environment()};
  return mode;
}

/// Whether this build's Winograd kernels have AVX2's 8-lane vectors and FMA. Built for plain x86-64 (SSE2),
/// they ran at 0.74-0.79x of oneDNN on the CNN's and the ResNet's 3x3 layers (Zen 3), while oneDNN picks its
/// AVX2 or AVX-512 kernels when the program runs; so such a build leaves those layers to oneDNN.
inline constexpr bool winograd_vectorised =
#if defined(__AVX2__) && defined(__FMA__)
    true;
#else
    false;
#endif

/// Whether plan `p` runs as Winograd: ungrouped 3x3 with stride 1, padding at most 2 (so that the input
/// gradient's padding 2 - pad is not negative), and enough channels on both sides for the matrix products
/// to pay for the transforms; in automatic mode, also a build with AVX2 or a backend other than oneDNN.
inline bool winograd_pays(const Conv2dPlan& p) {
  const WinogradMode mode = winograd_mode().load(std::memory_order_relaxed);
  if (mode == WinogradMode::off ||
      (mode == WinogradMode::automatic && !winograd_vectorised && float_backend() == FloatBackend::onednn))
    return false;
  const Conv2dGeometry& g = p.geometry;
  return p.groups == 1 && g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_h <= 2 && g.pad_w <= 2 && p.in_channels >= 8 && p.out_channels >= 8 && p.out_h >= 2 &&
         p.out_w >= 2 && p.batch > 0;
}

/// m[r][0, Vecs vectors) = sum over c of u[r * C + c] * v[c][...] for Rows rows: a register block of the
/// product M[xi] = U[xi] V[xi].
template <int Rows, int Vecs>
inline void winograd_product_block(const float* u, std::int64_t in_channels, const float* v,
                                   std::int64_t stride, float* m) {
  PlaneFloats acc[Rows][Vecs] = {};
  for (std::int64_t c = 0; c < in_channels; ++c) {
    PlaneFloats in[Vecs];
#pragma GCC unroll 16
    for (int s = 0; s < Vecs; ++s) {
      in[s] = load_lanes(v + c * stride + s * plane_lanes);
      keep_in_register(in[s]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      const PlaneFloats weight = u[r * in_channels + c] - PlaneFloats{};
#pragma GCC unroll 16
      for (int s = 0; s < Vecs; ++s)
        acc[r][s] += weight * in[s];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 16
    for (int s = 0; s < Vecs; ++s)
      store_lanes(m + r * stride + s * plane_lanes, acc[r][s]);
}

/// Register blocks of the products: rows of U (output channels) by vectors of tiles, 4 x 2 sums (4 x 4 with
/// AVX-512's 32 registers). 4 x 3, 6 x 2 and 3 x 3 measured the same on Zen 3.
inline constexpr int product_rows = 4;
inline constexpr int product_vectors = plane_lanes == 16 ? 4 : 2;

template <int Rows>
inline void winograd_product_rows(const float* u, std::int64_t in_channels, const float* v,
                                  std::int64_t stride, std::int64_t vectors, float* m) {
  std::int64_t q = 0;
  for (; q + product_vectors <= vectors; q += product_vectors)
    winograd_product_block<Rows, product_vectors>(u, in_channels, v + q * plane_lanes, stride,
                                                  m + q * plane_lanes);
  for (; q < vectors; ++q)
    winograd_product_block<Rows, 1>(u, in_channels, v + q * plane_lanes, stride, m + q * plane_lanes);
}

/// The last `rows` (< Rows) rows of a product, Rows - 1 at a time.
template <int Rows>
inline void winograd_product_tail(const float* u, std::int64_t in_channels, const float* v,
                                  std::int64_t stride, std::int64_t vectors, std::int64_t rows, float* m) {
  if constexpr (Rows > 1) {
    if (rows == Rows - 1)
      winograd_product_rows<Rows - 1>(u, in_channels, v, stride, vectors, m);
    else
      winograd_product_tail<Rows - 1>(u, in_channels, v, stride, vectors, rows, m);
  }
}

/// out[xi] = w[xi] in[xi] for every point xi: w is [16][rows_out][rows_in], in and out hold rows_in and
/// rows_out rows of `stride` floats per point, `in_points` and `out_points` floats apart; over the first
/// `vectors` vectors of tiles of a block. M = U V in the forward pass, dV = U^T dM in the backward pass.
inline void winograd_point_products(const float* w, std::int64_t rows_out, std::int64_t rows_in,
                                    const float* in, std::int64_t in_points, float* out,
                                    std::int64_t out_points, std::int64_t stride, std::int64_t vectors) {
  for (std::int64_t xi = 0; xi < winograd_points; ++xi) {
    const float* wxi = w + xi * rows_out * rows_in;
    const float* inxi = in + xi * in_points;
    float* outxi = out + xi * out_points;
    std::int64_t k = 0;
    for (; k + product_rows <= rows_out; k += product_rows)
      winograd_product_rows<product_rows>(wxi + k * rows_in, rows_in, inxi, stride, vectors,
                                          outxi + k * stride);
    if (k < rows_out)
      winograd_product_tail<product_rows>(wxi + k * rows_in, rows_in, inxi, stride, vectors, rows_out - k,
                                          outxi + k * stride);
  }
}

/// The Winograd convolution of the batch with transformed weights u (winograd_weights), block by block:
/// output(m, first, count, scratch) takes the products m of the tile rows [first, first + count).
template <class Output>
inline void winograd_convolve_blocks(const WinogradTiling& t, const float* u, const float* x,
                                     Output&& output) {
  const std::int64_t rows = t.rows();
  const std::int64_t blocks = (rows + t.block_rows - 1) / t.block_rows;
  const std::int64_t work = t.block_rows * t.tiles_w * winograd_points * t.in_channels * t.out_channels;
  const std::int64_t chunks = parallel_chunk_count(blocks, work);
  for_each_chunk(blocks, chunks, [&](std::int64_t, std::int64_t begin, std::int64_t end) {
    WinogradScratch& scratch = cached_winograd_scratch(t);
    for (std::int64_t block = begin; block < end; ++block) {
      const std::int64_t first = block * t.block_rows;
      const std::int64_t count = std::min(t.block_rows, rows - first);
      const std::int64_t vectors = (count * t.tiles_w + plane_lanes - 1) / plane_lanes;
      winograd_input_transform(t, x, first, count, scratch);
      winograd_point_products(u, t.out_channels, t.in_channels, scratch.v.data(), t.v_points,
                              scratch.m.data(), t.m_points, t.stride, vectors);
      output(static_cast<const float*>(scratch.m.data()), first, count, scratch);
    }
  });
}

/// The Winograd convolution of the batch with transformed weights u (winograd_weights): y = conv(x) + bias.
inline void winograd_convolve(const WinogradTiling& t, const float* u, const float* x, const float* bias,
                              float* y) {
  winograd_convolve_blocks(
      t, u, x, [&](const float* m, std::int64_t first, std::int64_t count, WinogradScratch& scratch) {
        winograd_output_transform(t, m, bias, first, count, y, scratch);
      });
}

/// Blocks of about this many bytes of V and M (WinogradTiling); tests pass small ones to split images.
/// Larger blocks spread the per-block costs (each block's weight-gradient sums are reduced across lanes and
/// added in double) over more tiles, past the L2 cache's size: on a Zen 1 (512 KiB of L2), 2 MiB against
/// 512 KiB took the CNN's float epoch from 9.89-10.17 to 9.55-9.74 s and the ResNet's from 21.50 to
/// 20.67-20.86 s (train_bench, alternating), and the ResNet's 64-channel layer's backward pass from 25.5 to
/// 21.3 ms (conv_bench). On a Zen 3 (also 512 KiB of L2), 512 KiB had measured 4-10% faster than 256 KiB.
inline constexpr std::int64_t winograd_block_bytes = std::int64_t{2048} << 10;

/// The tiling of plan `p` (winograd_pays(p)) in blocks of about block_bytes.
inline WinogradTiling winograd_tiling(const Conv2dPlan& p, std::int64_t block_bytes = winograd_block_bytes) {
  const Conv2dGeometry& g = p.geometry;
  return WinogradTiling(p.batch, p.in_channels, g.height, g.width, p.out_channels, p.out_h, p.out_w, g.pad_h,
                        g.pad_w, block_bytes);
}

/// y = conv(x, w) + bias for plan `p` (winograd_pays(p)); `bias` may be null.
inline void winograd_conv2d_forward(const Conv2dPlan& p, const float* x, const float* w, const float* bias,
                                    float* y, std::int64_t block_bytes = winograd_block_bytes) {
  const WinogradTiling t = winograd_tiling(p, block_bytes);
  Tensor<float> u = Tensor<float>::uninitialized(Shape{winograd_points * p.out_channels * p.in_channels});
  winograd_weights(w, p.out_channels, p.in_channels, false, u.data());
  winograd_convolve(t, u.data(), x, bias, y);
}

/// conv(x, w) + bias for plan `p` (winograd_pays(p)) handed over as output tiles, never stored:
/// tile(n, k, ti, j, y00, y01, y10, y11) for image n, output channel k, tile row ti and the tiles
/// [j, j + plane_lanes) of that row (winograd_output_tiles; lanes past tiles_w hold garbage).
template <class Tile>
inline void winograd_conv2d_forward_tiles(const Conv2dPlan& p, const float* x, const float* w,
                                          const float* bias, Tile&& tile) {
  const WinogradTiling t = winograd_tiling(p);
  Tensor<float> u = Tensor<float>::uninitialized(Shape{winograd_points * p.out_channels * p.in_channels});
  winograd_weights(w, p.out_channels, p.in_channels, false, u.data());
  winograd_convolve_blocks(
      t, u.data(), x, [&](const float* m, std::int64_t first, std::int64_t count, WinogradScratch&) {
        for (std::int64_t k = 0; k < t.out_channels; ++k)
          winograd_output_tiles(t, m, k, bias != nullptr ? bias[k] : 0.0f, count,
                                [&](std::int64_t r, std::int64_t j, const PlaneFloats& y00,
                                    const PlaneFloats& y01, const PlaneFloats& y10, const PlaneFloats& y11) {
                                  tile((first + r) / t.tiles_h, k, (first + r) % t.tiles_h, j, y00, y01, y10,
                                       y11);
                                });
      });
}

/// Lane i of a fold of a and b at width h: within each group of 2h lanes, the first h lanes are a's pairs
/// (lane, lane + h) summed, the last h lanes b's.
constexpr int fold_index(int lane, int h, bool second) {
  const int group = lane / (2 * h) * (2 * h);
  const int pos = lane % (2 * h);
  const int from_b = pos < h ? 0 : static_cast<int>(plane_lanes);
  return from_b + group + (pos < h ? pos : pos - h) + (second ? h : 0);
}

template <int H, int... Lane>
inline PlaneFloats fold_lanes(const PlaneFloats& a, const PlaneFloats& b,
                              std::integer_sequence<int, Lane...>) {
  return __builtin_shufflevector(a, b, fold_index(Lane, H, false)...) +
         __builtin_shufflevector(a, b, fold_index(Lane, H, true)...);
}

/// Halves Count vectors of sums pairwise, folding at width H, then at H / 2, ... down to one vector.
template <int H, int Count>
inline void fold_sums(PlaneFloats* v) {
#pragma GCC unroll 16
  for (int i = 0; i < Count / 2; ++i)
    v[i] = fold_lanes<H>(v[2 * i], v[2 * i + 1], std::make_integer_sequence<int, plane_lanes>{});
  if constexpr (H > 1)
    fold_sums<H / 2, Count / 2>(v);
}

/// Lane i of the vector that fold_sums leaves holds the total of vector bit_reverse(i) (log2 lanes bits).
constexpr int bit_reverse(int i) {
  int reversed = 0;
  for (int bit = 1; bit < static_cast<int>(plane_lanes); bit <<= 1, i >>= 1)
    reversed = (reversed << 1) | (i & 1);
  return reversed;
}

/// total[i] = the sum of the lanes of v[i], for plane_lanes vectors at once: a transposing tree of
/// shuffles and adds instead of one reduction per vector.
template <int... Lane>
inline void sum_lanes_of_each(PlaneFloats* v, float* total, std::integer_sequence<int, Lane...>) {
  constexpr int lanes = static_cast<int>(plane_lanes);
  fold_sums<lanes / 2, lanes>(v);
  ((total[bit_reverse(Lane)] = v[0][Lane]), ...);
}

/// du[r * C + s] += sum over the block's tiles of dm[r][tile] * v[s][tile], for Rows x Cols channel pairs.
template <int Rows, int Cols>
inline void winograd_dot_block(const float* dm, const float* v, std::int64_t stride, std::int64_t vectors,
                               std::int64_t in_channels, double* du) {
  PlaneFloats acc[Rows * Cols] = {};
  for (std::int64_t q = 0; q < vectors; ++q) {
    PlaneFloats grad[Rows];
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      grad[r] = load_lanes(dm + r * stride + q * plane_lanes);
      keep_in_register(grad[r]);
    }
#pragma GCC unroll 16
    for (int s = 0; s < Cols; ++s) {
      PlaneFloats in = load_lanes(v + s * stride + q * plane_lanes);
      keep_in_register(in);
#pragma GCC unroll 16
      for (int r = 0; r < Rows; ++r)
        acc[r * Cols + s] += grad[r] * in;
    }
  }
  float total[Rows * Cols];
  if constexpr (Rows * Cols % plane_lanes == 0) {
#pragma GCC unroll 16
    for (int i = 0; i < Rows * Cols; i += static_cast<int>(plane_lanes))
      sum_lanes_of_each(acc + i, total + i, std::make_integer_sequence<int, plane_lanes>{});
  } else {
    for (int i = 0; i < Rows * Cols; ++i) {
      total[i] = 0.0f;
      for (std::int64_t lane = 0; lane < plane_lanes; ++lane)
        total[i] += acc[i][lane];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 16
    for (int s = 0; s < Cols; ++s)
      du[r * in_channels + s] += double{total[r * Cols + s]};
}

template <int Rows>
inline void winograd_dot_rows(const float* dm, const float* v, std::int64_t stride, std::int64_t vectors,
                              std::int64_t in_channels, double* du) {
  constexpr int wide = plane_lanes == 16 ? 4 : 2;
  std::int64_t c = 0;
  for (; c + wide <= in_channels; c += wide)
    winograd_dot_block<Rows, wide>(dm, v + c * stride, stride, vectors, in_channels, du + c);
  for (; c < in_channels; ++c)
    winograd_dot_block<Rows, 1>(dm, v + c * stride, stride, vectors, in_channels, du + c);
}

/// dU[xi] += dM[xi] V[xi]^T for every point, over the first `vectors` vectors of tiles of a block.
inline void winograd_weight_products(const WinogradTiling& t, const float* dm, const float* v,
                                     std::int64_t vectors, double* du) {
  const std::int64_t C = t.in_channels, K = t.out_channels;
  for (std::int64_t xi = 0; xi < winograd_points; ++xi) {
    const float* dmxi = dm + xi * t.m_points;
    const float* vxi = v + xi * t.v_points;
    double* duxi = du + xi * K * C;
    std::int64_t k = 0;
    for (; k + 4 <= K; k += 4)
      winograd_dot_rows<4>(dmxi + k * t.stride, vxi, t.stride, vectors, C, duxi + k * C);
    for (; k < K; ++k)
      winograd_dot_rows<1>(dmxi + k * t.stride, vxi, t.stride, vectors, C, duxi + k * C);
  }
}

/// dx and dw of plan `p` (winograd_pays(p)), overwritten; pass null for one that is not needed. One pass
/// over blocks of tiles: V from x and dM from dy, then dU += dM V^T (the weight gradient) and dV = U^T dM,
/// whose patches B dV B^T add up to dx: the input gradient as the adjoint of the forward pass, sharing dM
/// with the weight gradient instead of transforming dy a second time (the CNN's second layer's backward
/// pass went from 7.06 to 6.12-6.24 ms). Each thread takes whole images, so no two add to one image's dx;
/// their dU sums are added in thread order, so a thread count gives the same result on every run.
inline void winograd_conv2d_backward(const Conv2dPlan& p, const float* x, const float* w, const float* dy,
                                     float* dx, float* dw, std::int64_t block_bytes = winograd_block_bytes) {
  const WinogradTiling t = winograd_tiling(p, block_bytes);
  const std::int64_t C = p.in_channels, K = p.out_channels;
  Tensor<float> ut; // U^T: [16][C][K]
  if (dx != nullptr) {
    Tensor<float> u = Tensor<float>::uninitialized(Shape{winograd_points * K * C});
    winograd_weights(w, K, C, false, u.data());
    ut = Tensor<float>::uninitialized(u.shape());
    for (std::int64_t xi = 0; xi < winograd_points; ++xi)
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t c = 0; c < C; ++c)
          ut.data()[(xi * C + c) * K + k] = u.data()[(xi * K + k) * C + c];
  }
  const std::int64_t work = t.tiles_h * t.tiles_w * winograd_points * C * K * 2;
  const std::int64_t chunks = parallel_chunk_count(p.batch, work);
  const std::int64_t du_size = winograd_points * K * C;
  // In double: dw = G^T dU G adds and subtracts terms larger than itself, so dU needs more than float.
  std::vector<double> du(static_cast<std::size_t>(dw != nullptr ? chunks * du_size : 0));
  for_each_chunk(p.batch, chunks, [&](std::int64_t chunk, std::int64_t n_begin, std::int64_t n_end) {
    WinogradScratch& scratch = cached_winograd_scratch(t);
    std::optional<WinogradPlanes> planes;
    if (dx != nullptr)
      planes.emplace(t);
    const std::int64_t end = n_end * t.tiles_h;
    for (std::int64_t first = n_begin * t.tiles_h; first < end; first += t.block_rows) {
      const std::int64_t count = std::min(t.block_rows, end - first);
      const std::int64_t vectors = (count * t.tiles_w + plane_lanes - 1) / plane_lanes;
      winograd_output_grad_transform(t, dy, first, count, scratch);
      if (dw != nullptr) {
        winograd_input_transform(t, x, first, count, scratch);
        winograd_weight_products(t, scratch.m.data(), scratch.v.data(), vectors, du.data() + chunk * du_size);
      }
      if (dx != nullptr) {
        for (std::int64_t n = (first + t.tiles_h - 1) / t.tiles_h; n * t.tiles_h < first + count; ++n)
          planes->clear(n); // images that start in this block
        winograd_point_products(ut.data(), C, K, scratch.m.data(), t.m_points, scratch.v.data(), t.v_points,
                                t.stride, vectors);
        winograd_input_grad_transform(t, scratch.v.data(), first, count, *planes);
        for (std::int64_t n = first / t.tiles_h; (n + 1) * t.tiles_h <= first + count; ++n)
          winograd_flush_input_grad(t, n, *planes, dx); // images that end in this block
      }
    }
  });
  if (dw == nullptr)
    return;
  for (std::int64_t chunk = 1; chunk < chunks; ++chunk)
    for (std::int64_t i = 0; i < du_size; ++i)
      du[static_cast<std::size_t>(i)] += du[static_cast<std::size_t>(chunk * du_size + i)];
  winograd_weights_grad(du.data(), K, C, dw);
}

} // namespace a2q::detail
