#include "tensor/repack.h"

#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/matmul_kernels.h"
#include "util/error.h"

namespace edgerag {
namespace {

// A packed block is `elems` elements of a row: n16 16-bit fields (F16 scales,
// or F16 weights) and then 32-bit fields (K-quant scale words, quants, pairs of
// BF16 weights); each field becomes kPackRows consecutive copies, one per row,
// 16-bit fields first. Q6_K keeps its d last in the plain block (`tail16`).
// Q8_0's signed quants are biased to unsigned (x ^ 0x80 is x + 128 for int8).
struct Fields {
  int64_t elems = 0;  // 0: the type has no packed layout
  size_t n16 = 0;
  bool tail16 = false;
  uint32_t bias = 0;
};
Fields fields_of(DType t) {
  switch (t) {
    case DType::Q4_0: return {32, 1};
    case DType::Q5_0: return {32, 1};  // then the qh word and the qs words
    case DType::Q4_1: return {32, 2};  // d, m
    case DType::Q5_1: return {32, 2};
    case DType::Q8_0: return {32, 1, false, 0x80808080u};
    case DType::Q4_K: return {QK_K, 2};
    case DType::Q5_K: return {QK_K, 2};        // d, dmin, 3 scale words, 8 qh words, 32 qs words
    case DType::Q6_K: return {QK_K, 1, true};  // d, 4 scale words, 32 ql words, 16 qh words
    case DType::F16: return {1, 1};            // one element of 16 rows: 32 bytes, one vcvtph2ps
    case DType::BF16: return {2, 0};           // two elements per 32-bit lane, as vdpbf16ps pairs them
    default: return {};
  }
}

// Copies row i's block between plain (`row`, ts bytes) and its lanes in the
// packed block of kPackRows rows (biased both ways: the bias is its own inverse).
template <bool kToPacked>
void move_row_block(size_t ts, Fields f, int64_t i, std::conditional_t<kToPacked, const uint8_t*, uint8_t*> row,
                    std::conditional_t<kToPacked, uint8_t*, const uint8_t*> packed) {
  const size_t r = static_cast<size_t>(i);
  // Fixed sizes, so every copy is a register move rather than a memcpy call.
  auto copy = [&]<size_t kN>(size_t plain_off, size_t packed_off, uint32_t x) {
    uint32_t v = 0;
    if constexpr (kToPacked) std::memcpy(&v, row + plain_off, kN), v ^= x, std::memcpy(packed + packed_off, &v, kN);
    else std::memcpy(&v, packed + packed_off, kN), v ^= x, std::memcpy(row + plain_off, &v, kN);
  };
  const size_t head = 2 * f.n16;
  const size_t off16 = f.tail16 ? ts - head : 0, off32 = f.tail16 ? 0 : head;
  for (size_t k = 0; k < f.n16; ++k) copy.template operator()<2>(off16 + 2 * k, 2 * kPackRows * k + 2 * r, 0);
  for (size_t c = 0; c < (ts - head) / 4; ++c)
    copy.template operator()<4>(off32 + 4 * c, head * kPackRows + c * 4 * kPackRows + 4 * r, f.bias);
}

// Blocks of one field (F16, BF16): the group is a transpose of kPackRows rows of
// T, done directly (a call of move_row_block per 2-byte element made loading an
// F16 model 3x slower per byte than the quantized types).
template <class T>
void transpose_group(const uint8_t* plain, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t i = 0; i < kPackRows; ++i)
      std::memcpy(dst + (static_cast<size_t>(b) * kPackRows + static_cast<size_t>(i)) * sizeof(T),
                  plain + static_cast<size_t>(i) * row_bytes + static_cast<size_t>(b) * sizeof(T), sizeof(T));
}

}  // namespace

bool packing_pays(DType t) {
  return fields_of(t).elems > 0 && packed_kernel_for(t, active_isa()) != nullptr;
}

bool pack_rows(Matrix& w, uint8_t* bytes) {
  EDGERAG_CHECK(bytes == w.data, "pack_rows: bytes must be the matrix data");
  const Fields f = fields_of(w.type);
  if (w.packed || !packing_pays(w.type) || w.rows < kPackRows || w.cols % f.elems != 0) return false;
  const size_t group_bytes = static_cast<size_t>(kPackRows) * w.row_bytes;
  const int64_t nb = w.cols / f.elems;
  const size_t ts = row_size(w.type, f.elems);
  std::vector<uint8_t> plain(group_bytes);  // one group at a time: the only extra memory
  for (int64_t g = 0; g < w.rows / kPackRows; ++g) {
    uint8_t* dst = bytes + static_cast<size_t>(g) * group_bytes;
    std::memcpy(plain.data(), dst, group_bytes);
    if (f.bias == 0 && ts == (f.n16 == 1 ? 2u : 4u) && f.n16 <= 1) {
      if (ts == 2) transpose_group<uint16_t>(plain.data(), w.row_bytes, nb, dst);
      else transpose_group<uint32_t>(plain.data(), w.row_bytes, nb, dst);
      continue;
    }
    for (int64_t i = 0; i < kPackRows; ++i)
      for (int64_t b = 0; b < nb; ++b) {
        move_row_block<true>(ts, f, i, plain.data() + static_cast<size_t>(i) * w.row_bytes + static_cast<size_t>(b) * ts,
                             dst + static_cast<size_t>(b) * kPackRows * ts);
      }
  }
  w.packed = true;
  return true;
}

void unpack_group(const Matrix& w, int64_t g, uint8_t* out) {
  EDGERAG_CHECK(w.packed && g >= 0 && g < w.rows / kPackRows, "unpack_group: group {} is not packed", g);
  for (int64_t i = 0; i < kPackRows; ++i) unpack_row(w, g * kPackRows + i, out + static_cast<size_t>(i) * w.row_bytes);
}

void unpack_row(const Matrix& w, int64_t r, uint8_t* out) {
  EDGERAG_CHECK(w.packed && r >= 0 && r < w.packed_rows(), "unpack_row: row {} is not packed", r);
  const Fields f = fields_of(w.type);
  const size_t ts = row_size(w.type, f.elems);
  const uint8_t* src = w.data + static_cast<size_t>(r / kPackRows) * kPackRows * w.row_bytes;
  for (int64_t b = 0; b < w.cols / f.elems; ++b)
    move_row_block<false>(ts, f, r % kPackRows, out + static_cast<size_t>(b) * ts, src + static_cast<size_t>(b) * kPackRows * ts);
}

}  // namespace edgerag
