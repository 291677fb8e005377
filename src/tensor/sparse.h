// SpQR outliers (quant/spqr.h): a sparse correction added to a quantized weight
// matrix's product, W x = dense(W) x + S x. S is stored in the GGUF file as one
// 1-D I8 tensor named "<weight name>.outliers" (kOutlierSuffix), format 2:
//   4 header bytes: format (2), column bits b (0..7), two zero bytes;
//   nnz 16-bit little-endian entries: the low b bits are the column within its
//     segment, the high 16 - b bits the value's fp16 with its low b bits dropped
//     (rounded to nearest: E5M(10-b), e.g. 4 mantissa bits for b = 6);
//   rows x segs 8-bit counts, segs = ceil(cols / 2^b): count[r * segs + s] is the
//     number of entries of row r in columns [s 2^b, (s + 1) 2^b), whose entries
//     follow those of (r, s - 1), columns increasing.
// An outlier costs 16 bits, each row 8 bits per 2^b columns (b = 6 on 64-wide
// rows: 0.125 bit per weight; b = 7 on wider rows: 0.0625). A count can never
// exceed its segment's 2^b <= 128 columns, so it always fits its byte. Format 1
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
inline constexpr uint8_t kOutlierFormat = 2;
inline constexpr int kOutlierMaxColumnBits = 7;

// The encoder's column bits for rows of `cols`: just enough for the row, at most 7.
int outlier_column_bits(int64_t cols);
// v rounded to the nearest value an entry with `column_bits` stores (0: plain fp16).
float round_outlier_value(float v, int column_bits);

struct CsrOutliers {
  int64_t rows = 0;
  int64_t cols = 0;
  int column_bits = 0;
  int64_t segs = 0;                   // count bytes per row
  const uint8_t* counts = nullptr;    // rows * segs (in the file)
  const uint16_t* entries = nullptr;  // nnz (in the file)
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

// Encodes the nonzeros of a dense rows x cols matrix (values rounded by
// round_outlier_value; those that round to zero are dropped).
std::vector<uint8_t> csr_encode(const float* dense, int64_t rows, int64_t cols);

// Y[t, r] += sum_c S[r, c] * X[t, c] for t < n_tokens (X [n_tokens, cols], Y
// [n_tokens, rows], row-major). Rows are split over `pool` (nullptr: caller thread).
void csr_matmul_add(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);
// Slow scalar reference: expands S to a dense matrix by walking the counts (not
// the decoded offsets) and multiplies in double.
void csr_matmul_add_ref(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y);

}  // namespace edgerag
