// Fuzz harness: IDX files, raw and gzip-compressed. The first byte chooses how the rest reaches read_idx:
// 0 as a raw file; 1 compressed with gzip first, so that mutations of the IDX header and payload reach
// the parser behind the decompressor; anything else as the file's bytes, which exercises gzip's own
// corruption handling when they start like a gzip stream.

#include "fuzz_target.hpp"

#include <a2q/data/idx.hpp>

#include <zlib.h>

namespace {

a2q_fuzz::Bytes gzip(std::span<const std::uint8_t> bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    std::abort();
  a2q_fuzz::Bytes out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32);
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END)
    std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  const auto path = data[0] == 1 ? a2q_fuzz::write_scratch("images.idx.gz", gzip(rest))
                                 : a2q_fuzz::write_scratch("images.idx", rest);
  a2q_fuzz::expect_clear_error([&] {
    const a2q::Tensor<std::uint8_t> t = a2q::data::read_idx(path);
    if (t.rank() < 1 || t.rank() > 5)
      std::abort();
  });
  return 0;
}
