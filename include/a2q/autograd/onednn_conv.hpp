#pragma once
/// @file
/// The oneDNN backend of conv2d (optional: built when A2Q_WITH_ONEDNN is defined, which the CMake option
/// A2Q_ONEDNN does when Debian's libdnnl-dev is found). oneDNN's JIT kernels work on channel-blocked
/// layouts (nChw16c): measured on the CNN's 16 -> 32 channel 3x3 layer on one Zen 5 core, they run the
/// forward and both backward passes at about 210 GFLOP/s where a2q's im2col + Eigen GEMM reaches 85-95.
/// Our tensors stay in PyTorch's NCHW layout; each call reorders into the layouts oneDNN picks and back
/// (through buffers kept per thread), which costs a tenth to a quarter of the convolution. Only ungrouped
/// convolutions go here, and none with one input channel (direct_conv.hpp runs those); the Eigen path
/// stays the reference that tests compare this backend against.

#if defined(A2Q_WITH_ONEDNN)

#include "a2q/core/aligned_allocator.hpp"
#include "a2q/core/error.hpp"

#include <dnnl.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace a2q::detail {

/// A CPU engine and stream per thread (a stream must not be shared between threads).
struct OneDnnContext {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

inline OneDnnContext& onednn_context() {
  thread_local OneDnnContext context;
  return context;
}

/// One convolution's oneDNN descriptors, and the NCHW / OIHW layouts of a2q's buffers.
class OneDnnConv {
public:
  using memory = dnnl::memory;

  /// Sizes of the convolution (kernel, stride and padding in both directions); bias only when `with_bias`.
  OneDnnConv(const memory::dims& src, const memory::dims& weights, const memory::dims& dst,
             const memory::dims& strides, const memory::dims& padding, bool with_bias)
      : src_(src), weights_(weights), dst_(dst), strides_(strides), padding_(padding), with_bias_(with_bias),
        forward_pd_(forward_descriptor(), onednn_context().engine), forward_(forward_pd_) {}

  /// y = conv(x, w) + bias (bias may be null when constructed without one); y is overwritten.
  void forward(const float* x, const float* w, const float* bias, float* y) const {
    OneDnnContext& ctx = onednn_context();
    const memory src = into(forward_src, forward_pd_.src_desc(), user(src_, memory::format_tag::nchw, x));
    const memory weights =
        into(forward_weights, forward_pd_.weights_desc(), user(weights_, memory::format_tag::oihw, w));
    const memory user_dst = user(dst_, memory::format_tag::nchw, y);
    const memory dst = blank_unless_same(forward_dst, forward_pd_.dst_desc(), user_dst);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    if (with_bias_)
      args.emplace(DNNL_ARG_BIAS, user({dst_[1]}, memory::format_tag::a, bias));
    forward_.execute(ctx.stream, args);
    copy_back(dst, user_dst);
    ctx.stream.wait();
  }

  /// dx, dw and db (each overwritten; any may be null) from dy; db only when constructed with a bias, and
  /// with dw (the weight pass computes it on the way). The backward primitives are made on first use.
  void backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db) {
    OneDnnContext& ctx = onednn_context();
    const memory user_dy = user(dst_, memory::format_tag::nchw, dy);
    std::optional<memory> dy_done; // dy reordered once when both passes want the same layout
    auto dy_in = [&](const memory::desc& desc) {
      if (!dy_done || dy_done->get_desc() != desc)
        dy_done = into(blocked_dy, desc, user_dy);
      return *dy_done;
    };
    if (dx != nullptr) {
      if (!backward_data_) {
        backward_data_pd_ = dnnl::convolution_backward_data::primitive_desc(
            dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, any(src_),
                                                  any(weights_), any(dst_), strides_, padding_, padding_),
            ctx.engine, forward_pd_);
        backward_data_ = dnnl::convolution_backward_data(backward_data_pd_);
      }
      const auto& pd = backward_data_pd_;
      const memory user_dx = user(src_, memory::format_tag::nchw, dx);
      const memory diff_src_memory = blank_unless_same(diff_src, pd.diff_src_desc(), user_dx);
      backward_data_.execute(ctx.stream,
                             {{DNNL_ARG_DIFF_DST, dy_in(pd.diff_dst_desc())},
                              {DNNL_ARG_WEIGHTS, into(backward_data_weights, pd.weights_desc(),
                                                      user(weights_, memory::format_tag::oihw, w))},
                              {DNNL_ARG_DIFF_SRC, diff_src_memory}});
      copy_back(diff_src_memory, user_dx);
    }
    if (dw != nullptr) {
      if (!backward_weights_) {
        backward_weights_pd_ = dnnl::convolution_backward_weights::primitive_desc(
            backward_weights_descriptor(), ctx.engine, forward_pd_);
        backward_weights_ = dnnl::convolution_backward_weights(backward_weights_pd_);
      }
      const auto& pd = backward_weights_pd_;
      const memory user_dw = user(weights_, memory::format_tag::oihw, dw);
      const memory diff_weights_memory = blank_unless_same(diff_weights, pd.diff_weights_desc(), user_dw);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, into(backward_weights_src, pd.src_desc(), user(src_, memory::format_tag::nchw, x))},
          {DNNL_ARG_DIFF_DST, dy_in(pd.diff_dst_desc())},
          {DNNL_ARG_DIFF_WEIGHTS, diff_weights_memory}};
      std::vector<float> unused_db(with_bias_ && db == nullptr ? static_cast<std::size_t>(dst_[1]) : 0);
      if (with_bias_) // the primitive writes the bias gradient whether or not it is wanted
        args.emplace(DNNL_ARG_DIFF_BIAS,
                     user({dst_[1]}, memory::format_tag::a, db != nullptr ? db : unused_db.data()));
      backward_weights_.execute(ctx.stream, args);
      copy_back(diff_weights_memory, user_dw);
    }
    ctx.stream.wait();
  }

private:
  static memory::desc any(const memory::dims& dims) {
    return memory::desc(dims, memory::data_type::f32, memory::format_tag::any);
  }

  memory::desc bias_desc() const {
    return memory::desc({dst_[1]}, memory::data_type::f32, memory::format_tag::a);
  }

  dnnl::convolution_forward::desc forward_descriptor() const {
    const auto kind = dnnl::prop_kind::forward_training;
    const auto direct = dnnl::algorithm::convolution_direct;
    if (with_bias_)
      return {kind, direct, any(src_), any(weights_), bias_desc(), any(dst_), strides_, padding_, padding_};
    return {kind, direct, any(src_), any(weights_), any(dst_), strides_, padding_, padding_};
  }

  dnnl::convolution_backward_weights::desc backward_weights_descriptor() const {
    const auto direct = dnnl::algorithm::convolution_direct;
    if (with_bias_)
      return {direct, any(src_), any(weights_), bias_desc(), any(dst_), strides_, padding_, padding_};
    return {direct, any(src_), any(weights_), any(dst_), strides_, padding_, padding_};
  }

  /// One of a2q's buffers as oneDNN memory (oneDNN takes a non-const pointer; inputs are only read).
  static memory user(const memory::dims& dims, memory::format_tag tag, const float* data) {
    return memory({dims, memory::data_type::f32, tag}, onednn_context().engine, const_cast<float*>(data));
  }

  /// The buffers in oneDNN's layouts that a call needs. One set per thread, shared by every convolution
  /// (calls on a thread do not overlap) and grown to the largest request: allocating them anew on each call
  /// cost page faults on every step, and a set per convolution would hold hundreds of MiB in a ResNet.
  enum Slot : std::size_t {
    forward_src,
    forward_weights,
    forward_dst,
    blocked_dy,
    backward_data_weights,
    diff_src,
    backward_weights_src,
    diff_weights,
    slot_count
  };

  /// The buffer of `slot` as memory with layout `desc`.
  static memory buffer(Slot slot, const memory::desc& desc) {
    thread_local std::array<std::vector<float, AlignedAllocator<float>>, slot_count> buffers;
    std::vector<float, AlignedAllocator<float>>& kept = buffers[slot];
    const std::size_t floats = (desc.get_size() + sizeof(float) - 1) / sizeof(float);
    if (kept.size() < floats)
      kept.resize(floats);
    return memory(desc, onednn_context().engine, kept.data());
  }

  /// `source` in layout `desc`: itself when it already is, else reordered into the buffer of `slot`.
  static memory into(Slot slot, const memory::desc& desc, const memory& source) {
    if (desc == source.get_desc())
      return source;
    memory converted = buffer(slot, desc);
    // memory is a shared handle: the copy refers to the same buffer (execute() wants non-const handles).
    memory from = source;
    dnnl::reorder(from, converted).execute(onednn_context().stream, from, converted);
    return converted;
  }

  /// An output in layout `desc`: the user's buffer when it already has that layout, else that of `slot`.
  static memory blank_unless_same(Slot slot, const memory::desc& desc, const memory& user_buffer) {
    return desc == user_buffer.get_desc() ? user_buffer : buffer(slot, desc);
  }

  static void copy_back(const memory& result, const memory& user_buffer) {
    if (result.get_data_handle() == user_buffer.get_data_handle())
      return;
    memory from = result;
    memory to = user_buffer;
    dnnl::reorder(from, to).execute(onednn_context().stream, from, to);
  }

  memory::dims src_;
  memory::dims weights_;
  memory::dims dst_;
  memory::dims strides_;
  memory::dims padding_;
  bool with_bias_;
  dnnl::convolution_forward::primitive_desc forward_pd_;
  dnnl::convolution_forward forward_;
  dnnl::convolution_backward_data::primitive_desc backward_data_pd_;
  dnnl::convolution_backward_data backward_data_;
  dnnl::convolution_backward_weights::primitive_desc backward_weights_pd_;
  dnnl::convolution_backward_weights backward_weights_;
};

/// The OneDnnConv for these sizes, made once per thread (choosing kernels takes longer than a small
/// convolution). At most 64 are kept: a program that sees more shapes starts again.
inline OneDnnConv& cached_onednn_conv(const OneDnnConv::memory::dims& src,
                                      const OneDnnConv::memory::dims& weights,
                                      const OneDnnConv::memory::dims& dst,
                                      const OneDnnConv::memory::dims& strides,
                                      const OneDnnConv::memory::dims& padding, bool with_bias) {
  using Key = std::vector<std::int64_t>;
  thread_local std::map<Key, std::unique_ptr<OneDnnConv>> cache;
  Key key;
  for (const auto* dims : {&src, &weights, &dst, &strides, &padding})
    key.insert(key.end(), dims->begin(), dims->end());
  key.push_back(with_bias ? 1 : 0);
  auto found = cache.find(key);
  if (found == cache.end()) {
    if (cache.size() >= 64)
      cache.clear();
    found = cache.emplace(key, std::make_unique<OneDnnConv>(src, weights, dst, strides, padding, with_bias))
                .first;
  }
  return *found->second;
}

} // namespace a2q::detail

#endif
