// SpQR outliers (quant/spqr.h): a sparse correction added to a quantized weight
// matrix's product, W x = dense(W) x + S x. S is stored in the GGUF file as one
// 1-D I32 tensor named "<weight name>.outliers" (kOutlierSuffix) in CSR form:
//   rows + 1 row offsets (row_ptr[0] = 0, non-decreasing, row_ptr[rows] = nnz),
//   then nnz entries, each (column << 16) | fp16 bits of the value,
// so an outlier costs 32 bits (as the SpQR paper counts: a 16-bit value and a
// 16-bit column index); columns are limited to 65535.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/thread_pool.h"

namespace edgerag {

inline constexpr const char* kOutlierSuffix = ".outliers";

struct CsrOutliers {
  int64_t rows = 0;
  int64_t cols = 0;
  const int32_t* row_ptr = nullptr;  // rows + 1 offsets
  const uint32_t* entries = nullptr; // row_ptr[rows] packed (column, fp16) entries

  // A view of a side tensor of n int32 values for a rows x cols matrix; throws
  // edgerag::Error unless the offsets and columns are consistent (hostile files).
  static CsrOutliers view(const int32_t* data, int64_t n, int64_t rows, int64_t cols);
  int64_t nnz() const { return row_ptr ? row_ptr[rows] : 0; }
};

// Encodes the nonzeros of a dense rows x cols matrix (values rounded to fp16).
std::vector<int32_t> csr_encode(const float* dense, int64_t rows, int64_t cols);

// Y[t, r] += sum_c S[r, c] * X[t, c] for t < n_tokens (X [n_tokens, cols], Y
// [n_tokens, rows], row-major). Rows are split over `pool` (nullptr: caller thread).
void csr_matmul_add(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);
// Slow scalar reference: expands S to a dense matrix and multiplies in double.
void csr_matmul_add_ref(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y);

}  // namespace edgerag
