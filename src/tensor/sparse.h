// SpQR outliers (quant/spqr.h): a sparse correction added to a quantized weight
// matrix's product, W x = dense(W) x + S x. S is stored in the GGUF file as one
// 1-D I8 tensor named "<weight name>.outliers" (kOutlierSuffix), format 3:
//   4 header bytes: format (3), column bits b (0..7), two zero bytes;
//   nnz fp16 values (16-bit little-endian, full precision);
//   nnz column bytes: the column within its segment of 2^b columns;
//   rows x segs 8-bit counts, segs = ceil(cols / 2^b): count[r * segs + s] is the
//     number of entries of row r in columns [s 2^b, (s + 1) 2^b), whose entries
//     follow those of (r, s - 1), columns increasing.
// An outlier costs 24 bits, each row 8 bits per 2^b columns (b = 6 on 64-wide
// rows: 0.125 bit per weight; b = 7 on wider rows: 0.0625). A count can never
// exceed its segment's 2^b <= 128 columns, so it always fits its byte.
// Format 2 (written before) is still read: the same header and counts, but one
// 16-bit entry per outlier whose low b bits are the column and whose high 16 - b
// bits are the value's fp16 with its low b bits dropped (E5M(10-b)). Format 1
// (I32: 32-bit row offsets, 32-bit entries) is refused with a clear error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "util/thread_pool.h"

namespace edgerag {

inline constexpr const char* kOutlierSuffix = ".outliers";
inline constexpr uint8_t kOutlierFormat = 3;  // written; 2 is read too
inline constexpr int kOutlierMaxColumnBits = 7;

// The encoder's column bits for rows of `cols`: just enough for the row, at most 7.
int outlier_column_bits(int64_t cols);
// v rounded to the nearest fp16 with its low `dropped_bits` mantissa bits clear
// (format 2 drops the column bits; 0: plain fp16, format 3).
float round_outlier_value(float v, int dropped_bits);

struct CsrOutliers {
  int64_t rows = 0;
  int64_t cols = 0;
  int column_bits = 0;
  int64_t segs = 0;                   // count bytes per row
  const uint8_t* counts = nullptr;    // rows * segs (in the file)
  const uint16_t* values = nullptr;   // nnz fp16 (in the file; format 2: the low b bits are the column)
  uint16_t value_mask = 0xFFFF;       // the fp16 bits of a value (format 2: its column bits cleared)
  const uint8_t* column_bytes = nullptr;  // nnz columns within their segment (in the file; null: format 2)
  // Decoded at load so that the kernel's loop has no per-segment branches (the
  // segments of 128 columns of a wide row hold ~1 outlier each): row offsets and
  // each entry's column in the row, 4 bytes per row + 2 per outlier of memory.
  const int32_t* row_ptr = nullptr;   // rows + 1 entry offsets (null: no outliers)
  const uint16_t* columns = nullptr;  // nnz
  struct Decoded {
    std::vector<int32_t> row_ptr;
    std::vector<uint16_t> columns;
  };
  std::shared_ptr<const Decoded> decoded;  // owns row_ptr and columns

  // A view of a side tensor (`nbytes` of `type`) for a rows x cols matrix (cols
  // <= 65536): every header field, count, column and value is checked (hostile
  // files) and row_ptr / columns are decoded; throws edgerag::Error naming `what`.
  static CsrOutliers view(DType type, const void* data, size_t nbytes, int64_t rows, int64_t cols,
                          const std::string& what = "outlier tensor");
  int64_t nnz() const { return row_ptr ? row_ptr[rows] : 0; }
};

// Encodes the nonzeros of a dense rows x cols matrix in `format` (3, or 2 for
// files of the older layout; values rounded by round_outlier_value as the format
// stores them; those that round to zero are dropped).
std::vector<uint8_t> csr_encode(const float* dense, int64_t rows, int64_t cols, int format = kOutlierFormat);

// Y[t, r] += sum_c S[r, c] * X[t, c] for t < n_tokens (X [n_tokens, cols], Y
// [n_tokens, rows], row-major). Rows are split over `pool` (nullptr: caller thread).
void csr_matmul_add(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);
// Slow scalar reference: expands S to a dense matrix by walking the counts (not
// the decoded offsets) and multiplies in double.
void csr_matmul_add_ref(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y);

}  // namespace edgerag
