#include "tensor/repack.h"

#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/matmul_kernels.h"
#include "util/error.h"

namespace edgerag {
namespace {

// The packed types are blocks of {F16 d; qs[type_size - 2]}; Q8_0's signed
// quants are biased to unsigned (x ^ 0x80 is x + 128 for int8).
uint32_t quant_bias(DType t) { return t == DType::Q8_0 ? 0x80808080u : 0; }

bool has_layout(DType t) { return t == DType::Q4_0 || t == DType::Q8_0; }

// Copies row i's block between plain (`row`, type_size bytes) and its lanes in
// the packed block of kPackRows rows, 4 quant bytes at a time (biased both ways:
// the bias is its own inverse).
template <bool kToPacked>
void move_row_block(size_t ts, uint32_t bias, int64_t i, std::conditional_t<kToPacked, const uint8_t*, uint8_t*> row,
                    std::conditional_t<kToPacked, uint8_t*, const uint8_t*> packed) {
  const size_t r = static_cast<size_t>(i);
  auto copy = [&](size_t plain_off, size_t packed_off, size_t n, uint32_t x) {
    uint32_t v = 0;
    if constexpr (kToPacked) std::memcpy(&v, row + plain_off, n), v ^= x, std::memcpy(packed + packed_off, &v, n);
    else std::memcpy(&v, packed + packed_off, n), v ^= x, std::memcpy(row + plain_off, &v, n);
  };
  copy(0, 2 * r, 2, 0);
  for (size_t c = 0; c < (ts - 2) / 4; ++c) copy(2 + 4 * c, 2 * kPackRows + c * 4 * kPackRows + 4 * r, 4, bias);
}

}  // namespace

bool packing_pays(DType t) { return has_layout(t) && packed_kernel_for(t, active_isa()) != nullptr; }

bool pack_rows(Matrix& w, uint8_t* bytes) {
  EDGERAG_CHECK(bytes == w.data, "pack_rows: bytes must be the matrix data");
  if (w.packed || !packing_pays(w.type) || w.rows < kPackRows) return false;
  const size_t group_bytes = static_cast<size_t>(kPackRows) * w.row_bytes;
  const int64_t nb = w.cols / dtype_traits(w.type).block_size;
  const size_t ts = dtype_traits(w.type).type_size;
  const uint32_t bias = quant_bias(w.type);
  std::vector<uint8_t> plain(group_bytes);  // one group at a time: the only extra memory
  for (int64_t g = 0; g < w.rows / kPackRows; ++g) {
    uint8_t* dst = bytes + static_cast<size_t>(g) * group_bytes;
    std::memcpy(plain.data(), dst, group_bytes);
    for (int64_t i = 0; i < kPackRows; ++i)
      for (int64_t b = 0; b < nb; ++b) {
        move_row_block<true>(ts, bias, i, plain.data() + static_cast<size_t>(i) * w.row_bytes + static_cast<size_t>(b) * ts,
                             dst + static_cast<size_t>(b) * kPackRows * ts);
      }
  }
  w.packed = true;
  return true;
}

void unpack_group(const Matrix& w, int64_t g, uint8_t* out) {
  EDGERAG_CHECK(w.packed && g >= 0 && g < w.rows / kPackRows, "unpack_group: group {} is not packed", g);
  const size_t ts = dtype_traits(w.type).type_size;
  const uint8_t* src = w.data + static_cast<size_t>(g) * kPackRows * w.row_bytes;
  const uint32_t bias = quant_bias(w.type);
  for (int64_t i = 0; i < kPackRows; ++i)
    for (int64_t b = 0; b < w.cols / dtype_traits(w.type).block_size; ++b) {
      move_row_block<false>(ts, bias, i, out + static_cast<size_t>(i) * w.row_bytes + static_cast<size_t>(b) * ts,
                            src + static_cast<size_t>(b) * kPackRows * ts);
    }
}

}  // namespace edgerag
