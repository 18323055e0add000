#pragma once
/// @file
/// The transforms of Winograd's F(2x2, 3x3) (winograd_conv.hpp): with d a 4x4 input patch, g a 3x3 kernel
/// and Y the 2x2 output tile, Y = A^T [(G g G^T) . (B^T d B)] A, where
///
///   B^T = | 1  0 -1  0 |    G = | 1    0    0   |    A^T = | 1  1  1  0 |
///         | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
///         | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
///         | 0  1  0 -1 |        | 0    0    1   |
///
/// and, for the gradients, dM = A dY A^T and dg = G^T dU G. Tiles are taken a block of tile rows at a
/// time (WinogradTiling). Every pass runs along a row of tiles in vectors of plane_lanes tiles: a patch's
/// columns 2j, 2j + 1, 2j + 2 and 2j + 3 are the even and odd halves of the padded image row at j and j + 1,
/// and an output tile's two columns interleave back into the row. The transforms only add and halve.

#include "a2q/autograd/direct_conv.hpp"
#include "a2q/autograd/lane_pairs.hpp"
#include "a2q/core/assert.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace a2q::detail {

inline constexpr std::int64_t winograd_points = 16; ///< the 4x4 transformed tile

/// The tiling of one Winograd convolution: images [C, H, W] in, [K, out_h, out_w] out, padding (pad_h,
/// pad_w); 2x2 output tiles, taken `block_rows` tile rows (of any images) at a time.
struct WinogradTiling {
  std::int64_t batch = 0, in_channels = 0, height = 0, width = 0;
  std::int64_t out_channels = 0, out_h = 0, out_w = 0, pad_h = 0, pad_w = 0;
  std::int64_t tiles_h = 0, tiles_w = 0; ///< tiles per image column and row
  std::int64_t block_rows = 0;           ///< tile rows per block
  std::int64_t stride = 0;   ///< floats per (point, channel) row of a block's V or M: room for the overhang
  std::int64_t v_points = 0; ///< floats per point of V: in_channels rows of `stride`, plus skew
  std::int64_t m_points = 0; ///< floats per point of M: out_channels rows of `stride`, plus skew
  std::int64_t half = 0;     ///< floats of an even or odd half-row: tiles_w rounded up, plus a vector
  std::int64_t row_span = 0; ///< floats of a zero-padded image row: 2 * half

  WinogradTiling(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t k,
                 std::int64_t oh, std::int64_t ow, std::int64_t ph, std::int64_t pw,
                 std::int64_t budget_bytes)
      : batch(n), in_channels(c), height(h), width(w), out_channels(k), out_h(oh), out_w(ow), pad_h(ph),
        pad_w(pw), tiles_h((oh + 1) / 2), tiles_w((ow + 1) / 2) {
    // V and M of a block, 16 * (C + K) floats per tile, take about budget_bytes (winograd_block_bytes).
    // The products read one point at a time, which fits in L1.
    const std::int64_t budget_tiles =
        std::max<std::int64_t>(1, budget_bytes / (4 * winograd_points * (c + k)));
    block_rows = std::clamp<std::int64_t>(budget_tiles / tiles_w, 1, tiles_h * n);
    stride = odd_lines(round_up(block_rows * tiles_w) + plane_lanes);
    v_points = odd_lines(c * stride);
    m_points = odd_lines(k * stride);
    half = round_up(tiles_w) + plane_lanes;
    row_span = 2 * half;
  }
  static std::int64_t round_up(std::int64_t v) { return (v + plane_lanes - 1) / plane_lanes * plane_lanes; }
  /// `floats` rounded up to an odd number of 64-byte cache lines. The passes read or write the 16 points'
  /// rows side by side; rows a power of two of lines apart share the L1 cache's sets and evict each other
  /// (this took the output transform from 0.2 to over 1 ms on the CNN's second layer).
  static std::int64_t odd_lines(std::int64_t floats) {
    const std::int64_t lines = (floats + 15) / 16;
    return (lines | 1) * 16;
  }
  std::int64_t rows() const { return batch * tiles_h; } ///< tile rows of the whole batch
  std::int64_t in_plane() const { return height * width; }
  std::int64_t out_plane() const { return out_h * out_w; }
};

/// u[xi][k][c] = (G g G^T)[xi] for each 3x3 kernel g = w[k][c] (or, `flip_transpose`, g = w[c][k] turned
/// by 180 degrees: the kernels of the input gradient). w is [rows, cols, 3, 3] with (rows, cols) = (K, C)
/// or, flipped, (C, K).
inline void winograd_weights(const float* w, std::int64_t out_channels, std::int64_t in_channels,
                             bool flip_transpose, float* u) {
  const std::int64_t pairs = out_channels * in_channels;
  for (std::int64_t k = 0; k < out_channels; ++k)
    for (std::int64_t c = 0; c < in_channels; ++c) {
      float g[3][3];
      const float* kernel = flip_transpose ? w + (c * out_channels + k) * 9 : w + (k * in_channels + c) * 9;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          g[i][j] = flip_transpose ? kernel[(2 - i) * 3 + (2 - j)] : kernel[i * 3 + j];
      float s[4][3]; // G g
      for (int j = 0; j < 3; ++j) {
        s[0][j] = g[0][j];
        s[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
        s[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
        s[3][j] = g[2][j];
      }
      for (int a = 0; a < 4; ++a) { // (G g) G^T
        float* out = u + (a * 4) * pairs + k * in_channels + c;
        out[0 * pairs] = s[a][0];
        out[1 * pairs] = 0.5f * (s[a][0] + s[a][1] + s[a][2]);
        out[2 * pairs] = 0.5f * (s[a][0] - s[a][1] + s[a][2]);
        out[3 * pairs] = s[a][2];
      }
    }
}

/// Makes GCC keep a loaded vector in a register: it would fold the load into every FMA that uses it, and
/// the loads, not the FMAs, would then set the pace.
inline void keep_in_register([[maybe_unused]] PlaneFloats& v) {
#if defined(__x86_64__) || defined(__i386__)
  asm("" : "+v"(v));
#endif
}

/// Splits a zero-padded image row into its even and odd elements, a vector pair at a time.
inline void deinterleave_row(const float* row, std::int64_t half, float* even, float* odd) {
  for (std::int64_t j = 0; j < half; j += plane_lanes) {
    PlaneFloats e, o;
    load_even_odd(row + 2 * j, e, o);
    store_lanes(even + j, e);
    store_lanes(odd + j, o);
  }
}

/// One thread's buffers, zeroed once. V [16][C][stride] and M (or dM) [16][K][stride] of a block; strips of
/// zero-padded image rows and of dy rows (only the rows' own columns are ever written, so their padding stays
/// zero), of the rows' even and odd halves, and of output rows; a zero row. Each pass first copies all the
/// rows a block needs into a strip, then reads them: a vector load right after the unaligned stores that
/// wrote it would wait for them (store-to-load forwarding fails), which took half of the transforms' time.
/// Lanes past a block's tiles are finite where no pass writes them, and add nothing where they must not.
struct WinogradScratch {
  Tensor<float> v, m, rows;
  std::int64_t strip_rows = 0, row_span = 0;
  std::vector<std::int64_t> source; ///< per strip row: offset of the image row it holds, or -1 for zeros
  std::vector<std::int64_t> base;   ///< per tile row of the block: its first strip row

  explicit WinogradScratch(const WinogradTiling& t)
      : v(Shape{winograd_points * t.v_points}), m(Shape{winograd_points * t.m_points}),
        rows(Shape{(4 * (4 * t.block_rows) + 1) * t.row_span}), strip_rows(4 * t.block_rows),
        row_span(t.row_span) {}
  float* image_strip(std::int64_t s) { return rows.data() + s * row_span; }
  float* gradient_strip(std::int64_t s) { return image_strip(strip_rows + s); }
  float* halves(std::int64_t s) { return image_strip(2 * strip_rows + s); } ///< even half, then odd half
  float* output_strip(std::int64_t s) { return image_strip(3 * strip_rows + s); }
  const float* zero_row() { return image_strip(4 * strip_rows); }
};

/// The calling thread's WinogradScratch for tiling `t`, kept from one call to the next. Zeroing it on every
/// call cost 3.5% of a CNN epoch once conv2d_relu_max_pool2d called its Winograd layer a slice of images at a
/// time (13 calls a batch, each zeroing over 0.5 MB). A buffer is reused only for the same layout (every size
/// of the tiling but the batch), so the columns that no pass writes (the image strips' padding, the zero row)
/// are still the zeros they were made with; the other lanes hold values of earlier blocks, as they do from
/// one block to the next within a call, and the passes never read them. The four most recent layouts are
/// kept per thread (a ResNet has three).
inline WinogradScratch& cached_winograd_scratch(const WinogradTiling& t) {
  using Layout = std::array<std::int64_t, 9>;
  struct Entry {
    Layout layout;
    std::unique_ptr<WinogradScratch> scratch;
  };
  thread_local std::vector<Entry> cache; // most recently used last
  const Layout layout{t.in_channels, t.height, t.width,      t.out_channels, t.out_h,
                      t.out_w,       t.pad_h,  t.block_rows, t.pad_w};
  const auto hit =
      std::find_if(cache.begin(), cache.end(), [&](const Entry& e) { return e.layout == layout; });
  if (hit != cache.end()) {
    std::rotate(hit, hit + 1, cache.end());
  } else {
    constexpr std::size_t kept = 4;
    if (cache.size() == kept)
      cache.erase(cache.begin());
    cache.push_back({layout, std::make_unique<WinogradScratch>(t)});
  }
  return *cache.back().scratch;
}

/// V of the tile rows [first, first + count) of the batch: for each input channel c and point xi,
/// v[xi][c][tile] = (B^T d B)[xi] of the tile's 4x4 patch d of x (zero outside the image). Consecutive tile
/// rows of an image share two image rows, which are copied and split into halves once.
inline void winograd_input_transform(const WinogradTiling& t, const float* x, std::int64_t first,
                                     std::int64_t count, WinogradScratch& scratch) {
  // Strip rows: tile row r reads base[r] + a for patch row a; a tile row in the same image as the one
  // before starts two rows after it, one in a new image four rows after it.
  scratch.source.clear();
  scratch.base.assign(static_cast<std::size_t>(count), 0);
  for (std::int64_t r = 0; r < count; ++r) {
    const std::int64_t n = (first + r) / t.tiles_h;
    const std::int64_t ti = (first + r) % t.tiles_h;
    const bool continues = r > 0 && ti > 0;
    scratch.base[static_cast<std::size_t>(r)] =
        static_cast<std::int64_t>(scratch.source.size()) - (continues ? 2 : 0);
    for (std::int64_t a = continues ? 2 : 0; a < 4; ++a) {
      const std::int64_t ih = 2 * ti + a - t.pad_h;
      scratch.source.push_back(ih < 0 || ih >= t.height ? -1
                                                        : n * t.in_channels * t.in_plane() + ih * t.width);
    }
  }
  const auto strip = static_cast<std::int64_t>(scratch.source.size());
  const std::int64_t pstride = t.v_points;
  A2Q_ASSERT(strip <= scratch.strip_rows);
  for (std::int64_t c = 0; c < t.in_channels; ++c) {
    const float* plane = x + c * t.in_plane();
    for (std::int64_t s = 0; s < strip; ++s)
      if (scratch.source[static_cast<std::size_t>(s)] >= 0)
        copy_floats(plane + scratch.source[static_cast<std::size_t>(s)], t.width,
                    scratch.image_strip(s) + t.pad_w);
    for (std::int64_t s = 0; s < strip; ++s)
      if (scratch.source[static_cast<std::size_t>(s)] >= 0)
        deinterleave_row(scratch.image_strip(s), t.half, scratch.halves(s), scratch.halves(s) + t.half);
    for (std::int64_t r = 0; r < count; ++r) {
      const std::int64_t b0 = scratch.base[static_cast<std::size_t>(r)];
      const float* rows[4];
      for (int a = 0; a < 4; ++a)
        rows[a] = scratch.source[static_cast<std::size_t>(b0 + a)] >= 0 ? scratch.halves(b0 + a)
                                                                        : scratch.zero_row();
      float* vc = scratch.v.data() + c * t.stride + r * t.tiles_w;
      for (std::int64_t j = 0; j < t.tiles_w; j += plane_lanes) {
        PlaneFloats col[4][4]; // d B: patch row a, column b
#pragma GCC unroll 4
        for (int row = 0; row < 4; ++row) {
          const float* e = rows[row] + j;
          const float* o = e + t.half;
          const PlaneFloats e0 = load_lanes(e), o0 = load_lanes(o);
          const PlaneFloats e1 = load_lanes(e + 1), o1 = load_lanes(o + 1);
          col[row][0] = e0 - e1;
          col[row][1] = o0 + e1;
          col[row][2] = e1 - o0;
          col[row][3] = o0 - o1;
        }
#pragma GCC unroll 4
        for (int b = 0; b < 4; ++b) { // B^T (d B)
          const PlaneFloats out[4] = {col[0][b] - col[2][b], col[1][b] + col[2][b], col[2][b] - col[1][b],
                                      col[1][b] - col[3][b]};
#pragma GCC unroll 4
          for (int row = 0; row < 4; ++row)
            store_lanes(vc + (row * 4 + b) * pstride + j, out[row]);
        }
      }
    }
  }
}

/// The output tiles of channel k in the tile rows [0, count) of a block from their products: Y = A^T M A +
/// b, a vector of plane_lanes tiles at a time: tile(r, j, y00, y01, y10, y11) for tile row r and the tiles
/// [j, j + plane_lanes) of it (lanes past the row's tiles hold garbage), y_ab being output row a, column b
/// of each tile.
template <class Tile>
inline void winograd_output_tiles(const WinogradTiling& t, const float* m, std::int64_t k, float b,
                                  std::int64_t count, Tile&& tile) {
  const std::int64_t pstride = t.m_points;
  for (std::int64_t r = 0; r < count; ++r) {
    const float* mk = m + k * t.stride + r * t.tiles_w;
    for (std::int64_t j = 0; j < t.tiles_w; j += plane_lanes) {
      PlaneFloats top[4], bottom[4]; // A^T M, column by column
#pragma GCC unroll 4
      for (int col = 0; col < 4; ++col) {
        const PlaneFloats m0 = load_lanes(mk + (0 + col) * pstride + j);
        const PlaneFloats m1 = load_lanes(mk + (4 + col) * pstride + j);
        const PlaneFloats m2 = load_lanes(mk + (8 + col) * pstride + j);
        const PlaneFloats m3 = load_lanes(mk + (12 + col) * pstride + j);
        top[col] = m0 + m1 + m2;
        bottom[col] = m1 - m2 - m3;
      }
      tile(r, j, top[0] + top[1] + top[2] + b, top[1] - top[2] - top[3] + b,
           bottom[0] + bottom[1] + bottom[2] + b, bottom[1] - bottom[2] - bottom[3] + b);
    }
  }
}

/// y tiles of the tile rows [first, first + count) from their products (winograd_output_tiles). A
/// channel's output rows are assembled in full vectors in a strip, then copied to the image (whose rows end
/// mid-vector).
inline void winograd_output_transform(const WinogradTiling& t, const float* m, const float* bias,
                                      std::int64_t first, std::int64_t count, float* y,
                                      WinogradScratch& scratch) {
  for (std::int64_t k = 0; k < t.out_channels; ++k) {
    const float b = bias != nullptr ? bias[k] : 0.0f;
    winograd_output_tiles(t, m, k, b, count,
                          [&](std::int64_t r, std::int64_t j, const PlaneFloats& y00, const PlaneFloats& y01,
                              const PlaneFloats& y10, const PlaneFloats& y11) {
                            store_interleaved(scratch.output_strip(2 * r) + 2 * j, y00, y01);
                            store_interleaved(scratch.output_strip(2 * r + 1) + 2 * j, y10, y11);
                          });
    for (std::int64_t r = 0; r < count; ++r) {
      const std::int64_t n = (first + r) / t.tiles_h;
      const std::int64_t ti = (first + r) % t.tiles_h;
      float* out = y + (n * t.out_channels + k) * t.out_plane() + 2 * ti * t.out_w;
      copy_floats(scratch.output_strip(2 * r), t.out_w, out);
      if (2 * ti + 1 < t.out_h)
        copy_floats(scratch.output_strip(2 * r + 1), t.out_w, out + t.out_w);
    }
  }
}

/// dM of the tile rows [first, first + count): dm[xi][k][tile] = (A dY A^T)[xi] for the tile's 2x2 output
/// gradient dY (zero past the output's edge, where the forward pass dropped what it computed). Lanes past
/// the block's tiles are zeroed, so that they add nothing to dU.
inline void winograd_output_grad_transform(const WinogradTiling& t, const float* dy, std::int64_t first,
                                           std::int64_t count, WinogradScratch& scratch) {
  float* dm = scratch.m.data();
  const std::int64_t pstride = t.m_points;
  const std::int64_t tiles = count * t.tiles_w;
  const std::int64_t used = WinogradTiling::round_up(t.tiles_w); // half-row floats the vectors read
  for (std::int64_t k = 0; k < t.out_channels; ++k) {
    float* dmk = dm + k * t.stride;
    // Strip row 2r + a holds output row 2 ti + a of tile row r.
    for (std::int64_t r = 0; r < count; ++r) {
      const std::int64_t n = (first + r) / t.tiles_h;
      const std::int64_t ti = (first + r) % t.tiles_h;
      const float* plane = dy + (n * t.out_channels + k) * t.out_plane();
      for (std::int64_t a = 0; a < 2 && 2 * ti + a < t.out_h; ++a)
        copy_floats(plane + (2 * ti + a) * t.out_w, t.out_w, scratch.gradient_strip(2 * r + a));
    }
    for (std::int64_t r = 0; r < count; ++r) {
      const std::int64_t ti = (first + r) % t.tiles_h;
      const float* rows[2];
      for (std::int64_t a = 0; a < 2; ++a) {
        if (2 * ti + a >= t.out_h) {
          rows[a] = scratch.zero_row();
          continue;
        }
        float* halves = scratch.halves(2 * r + a);
        deinterleave_row(scratch.gradient_strip(2 * r + a), used, halves, halves + t.half);
        rows[a] = halves;
      }
      for (std::int64_t j = 0; j < t.tiles_w; j += plane_lanes) {
        const PlaneFloats g00 = load_lanes(rows[0] + j), g01 = load_lanes(rows[0] + t.half + j);
        const PlaneFloats g10 = load_lanes(rows[1] + j), g11 = load_lanes(rows[1] + t.half + j);
        // A dY down the columns, then (A dY) A^T along the rows.
        const PlaneFloats left[4] = {g00, g00 + g10, g00 - g10, PlaneFloats{} - g10};
        const PlaneFloats right[4] = {g01, g01 + g11, g01 - g11, PlaneFloats{} - g11};
#pragma GCC unroll 4
        for (int a = 0; a < 4; ++a) {
          const PlaneFloats out[4] = {left[a], left[a] + right[a], left[a] - right[a],
                                      PlaneFloats{} - right[a]};
#pragma GCC unroll 4
          for (int b = 0; b < 4; ++b)
            store_lanes(dmk + (a * 4 + b) * pstride + r * t.tiles_w + j, out[b]);
        }
      }
    }
    for (std::int64_t xi = 0; xi < winograd_points; ++xi)
      std::fill(dmk + xi * pstride + tiles, dmk + xi * pstride + WinogradTiling::round_up(tiles), 0.0f);
  }
}

/// dw[k][c] = G^T dU[k][c] G: the gradient of the kernels from that of their transforms.
inline void winograd_weights_grad(const double* du, std::int64_t out_channels, std::int64_t in_channels,
                                  float* dw) {
  const std::int64_t pairs = out_channels * in_channels;
  for (std::int64_t pair = 0; pair < pairs; ++pair) {
    double s[4][3]; // dU G
    for (int a = 0; a < 4; ++a) {
      const double* row = du + (a * 4) * pairs + pair;
      const double d0 = row[0], d1 = row[pairs], d2 = row[2 * pairs], d3 = row[3 * pairs];
      s[a][0] = d0 + 0.5 * (d1 + d2);
      s[a][1] = 0.5 * (d1 - d2);
      s[a][2] = 0.5 * (d1 + d2) + d3;
    }
    float* out = dw + pair * 9;
    for (int j = 0; j < 3; ++j) { // G^T (dU G)
      out[0 * 3 + j] = static_cast<float>(s[0][j] + 0.5 * (s[1][j] + s[2][j]));
      out[1 * 3 + j] = static_cast<float>(0.5 * (s[1][j] - s[2][j]));
      out[2 * 3 + j] = static_cast<float>(0.5 * (s[1][j] + s[2][j]) + s[3][j]);
    }
  }
}

/// The lanes of `current` moved up by one, lane 0 taking the last lane of `previous`: what a row of tiles
/// adds one element to the right (a patch's columns 2j + 2 and 2j + 3 are the halves' element j + 1).
template <int... Lane>
inline PlaneFloats shift_in(const PlaneFloats& previous, const PlaneFloats& current,
                            std::integer_sequence<int, Lane...>) {
  return __builtin_shufflevector(previous, current, (static_cast<int>(plane_lanes) - 1 + Lane)...);
}

/// Input-gradient accumulators of the images a thread has in flight: per image and input channel, the
/// zero-padded plane's rows, each as an even half then an odd half (the layout the patches add to). A
/// block touches at most block_rows / tiles_h + 2 images, which take slots in turn.
struct WinogradPlanes {
  std::int64_t slots = 0, channels = 0, rows = 0, half = 0;
  Tensor<float> data;
  Tensor<float> strip; ///< plain rows of one plane, written before they are copied out

  explicit WinogradPlanes(const WinogradTiling& t)
      : slots(t.block_rows / t.tiles_h + 2), channels(t.in_channels), rows(2 * t.tiles_h + 2), half(t.half),
        // Uninitialized: clear() zeroes an image's planes before the first patch adds to them, and the strip
        // is written before it is read.
        data(Tensor<float>::uninitialized(Shape{slots * t.in_channels * rows * 2 * t.half})),
        strip(Tensor<float>::uninitialized(Shape{rows * t.row_span})) {}
  std::int64_t plane_floats() const { return rows * 2 * half; }
  float* plane(std::int64_t n, std::int64_t c) {
    return data.data() + ((n % slots) * channels + c) * plane_floats();
  }
  void clear(std::int64_t n) {
    float* first = plane(n, 0);
    std::fill(first, first + channels * plane_floats(), 0.0f);
  }
};

/// Adds to the accumulators the input gradient of the tile rows [first, first + count): the patch B dV B^T
/// of each tile, dv being the block's [16][C][stride] gradient of V. Patches overlap by two rows and two
/// columns; lanes past a row's tiles are masked, since they hold the next row's tiles.
inline void winograd_input_grad_transform(const WinogradTiling& t, const float* dv, std::int64_t first,
                                          std::int64_t count, WinogradPlanes& planes) {
  PlaneInts lane{};
  for (std::int64_t l = 0; l < plane_lanes; ++l)
    lane[l] = static_cast<std::int32_t>(l);
  const std::int64_t pstride = t.v_points;
  const auto lanes = std::make_integer_sequence<int, plane_lanes>{};
  const PlaneFloats zero{};
  for (std::int64_t c = 0; c < t.in_channels; ++c) {
    for (std::int64_t r = 0; r < count; ++r) {
      const std::int64_t n = (first + r) / t.tiles_h;
      const std::int64_t ti = (first + r) % t.tiles_h;
      float* rows = planes.plane(n, c) + 2 * ti * 2 * t.half;
      const float* d = dv + c * t.stride + r * t.tiles_w;
      PlaneFloats carry_even[4] = {}, carry_odd[4] = {};
      for (std::int64_t j = 0; j <= t.tiles_w; j += plane_lanes) { // one more element: the last carry
        const auto inside = lane < static_cast<std::int32_t>(t.tiles_w - j);
        PlaneFloats rowwise[4][4]; // B dV, column by column
#pragma GCC unroll 4
        for (int b = 0; b < 4; ++b) {
          const PlaneFloats d0 = inside ? load_lanes(d + (0 + b) * pstride + j) : zero;
          const PlaneFloats d1 = inside ? load_lanes(d + (4 + b) * pstride + j) : zero;
          const PlaneFloats d2 = inside ? load_lanes(d + (8 + b) * pstride + j) : zero;
          const PlaneFloats d3 = inside ? load_lanes(d + (12 + b) * pstride + j) : zero;
          rowwise[0][b] = d0;
          rowwise[1][b] = d1 - d2 + d3;
          rowwise[2][b] = d1 + d2 - d0;
          rowwise[3][b] = zero - d3;
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) { // (B dV) B^T along the row, added to padded row 2 ti + i
          const PlaneFloats* q = rowwise[i];
          const PlaneFloats p0 = q[0], p1 = q[1] - q[2] + q[3], p2 = q[1] + q[2] - q[0], p3 = zero - q[3];
          float* even = rows + i * 2 * t.half + j;
          float* odd = even + t.half;
          store_lanes(even, load_lanes(even) + p0 + shift_in(carry_even[i], p2, lanes));
          store_lanes(odd, load_lanes(odd) + p1 + shift_in(carry_odd[i], p3, lanes));
          carry_even[i] = p2;
          carry_odd[i] = p3;
        }
      }
    }
  }
}

/// dx[n] from image n's accumulators: each padded row interleaved back, then its image columns copied.
inline void winograd_flush_input_grad(const WinogradTiling& t, std::int64_t n, WinogradPlanes& planes,
                                      float* dx) {
  const std::int64_t span = 2 * t.half;
  for (std::int64_t c = 0; c < t.in_channels; ++c) {
    const float* plane = planes.plane(n, c);
    float* strip = planes.strip.data();
    for (std::int64_t h = 0; h < t.height; ++h) {
      const float* even = plane + (h + t.pad_h) * span;
      for (std::int64_t j = 0; j < t.half; j += plane_lanes)
        store_interleaved(strip + h * span + 2 * j, load_lanes(even + j), load_lanes(even + t.half + j));
    }
    float* out = dx + (n * t.in_channels + c) * t.in_plane();
    for (std::int64_t h = 0; h < t.height; ++h)
      copy_floats(strip + h * span + t.pad_w, t.width, out + h * t.width);
  }
}

} // namespace a2q::detail
