// Row-interleaved weight layout for the GEMM kernels, applied in place when a
// model loads (the weight bytes are rearranged, never copied: no second
// resident copy of the model).
//
// A matrix is cut into groups of kPackRows consecutive rows; group g occupies
// the same kPackRows * row_bytes bytes as the rows it replaces, so rows past
// the last full group stay plain and Matrix::row() still finds them. Inside a
// group, for each 32-element block b in order:
//   kPackRows F16 scales d (row 0..15), then the quants in 4-byte lanes:
//   lane chunk c holds bytes [4c, 4c+4) of every row's qs, row after row.
// One 64-byte chunk is then one AVX-512 register with row i in 32-bit lane i,
// so vpdpbusd against 4 broadcast activation bytes gives 16 rows' partial dot
// products with no shuffle (the layout of llama.cpp's repacked Q4_0/Q8_0 and
// ik_llama.cpp's _R4/_R8 types, 16 rows wide). Q8_0 quants are stored biased
// by 128 (unsigned), as vpdpbusd wants them. Q4_1 / Q5_1 have d[16] then
// m[16]; Q5_0 / Q5_1 put the qh words before the quants (struct order). K-quant
// super-blocks (256 elements) are laid out the same way field by field, F16
// fields first: Q4_K / Q5_K d[16], dmin[16], the three 32-bit words of each
// row's 12 scale bytes, (Q5_K: the qh words,) the quants; Q6_K d[16], then its
// ql, qh and scale words. Float weights: F16 one element of the 16 rows per 32
// bytes, BF16 an element pair per 32-bit lane (the pairs vdpbf16ps multiplies).
#pragma once
#include <cstdint>

#include "tensor/ops.h"

namespace edgerag {

// Whether `t` has a packed layout and a kernel at the active ISA level uses it.
bool packing_pays(DType t);

// Rearranges the full row groups of `w` in place (`bytes` is w.data, writable)
// and marks it packed. Returns false, leaving everything unchanged, when
// packing_pays(w.type) is false or w has fewer than kPackRows rows.
bool pack_rows(Matrix& w, uint8_t* bytes);

// Rows [g * kPackRows, (g + 1) * kPackRows) of packed `w` in plain GGUF layout
// (kPackRows * row_bytes bytes at out): the inverse of pack_rows for one group.
void unpack_group(const Matrix& w, int64_t g, uint8_t* out);

// Row r (< w.packed_rows()) of packed `w` in plain GGUF layout (w.row_bytes at
// out): how a packed tied embedding table is read one token at a time.
void unpack_row(const Matrix& w, int64_t r, uint8_t* out);

}  // namespace edgerag
