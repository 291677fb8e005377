#include "tensor/sparse.h"

#include "tensor/fp16.h"
#include "util/error.h"

namespace edgerag {
namespace {

int64_t column_of(uint32_t e) { return e >> 16; }
float value_of(uint32_t e) { return fp16_to_fp32(static_cast<uint16_t>(e & 0xFFFF)); }

}  // namespace

CsrOutliers CsrOutliers::view(const int32_t* data, int64_t n, int64_t rows, int64_t cols) {
  EDGERAG_CHECK(rows >= 0 && cols >= 0 && n >= rows + 1, "outlier tensor: {} values for {} rows", n, rows);
  EDGERAG_CHECK(data[0] == 0 && data[rows] == n - rows - 1, "outlier tensor: offsets do not span its {} entries",
                n - rows - 1);
  for (int64_t r = 0; r < rows; ++r)
    EDGERAG_CHECK(data[r] <= data[r + 1], "outlier tensor: row offsets decrease at row {}", r);
  CsrOutliers s{rows, cols, data, reinterpret_cast<const uint32_t*>(data + rows + 1)};
  for (int64_t i = 0; i < s.nnz(); ++i)
    EDGERAG_CHECK(column_of(s.entries[i]) < cols, "outlier tensor: column {} out of {}", column_of(s.entries[i]), cols);
  return s;
}

std::vector<int32_t> csr_encode(const float* dense, int64_t rows, int64_t cols) {
  EDGERAG_CHECK(cols <= 65536, "outliers: rows of {} columns exceed the 16-bit column index", cols);
  std::vector<int32_t> out(rows + 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint16_t h = fp32_to_fp16(dense[r * cols + c]);
      if (fp16_to_fp32(h) != 0)
        out.push_back(static_cast<int32_t>((static_cast<uint32_t>(c) << 16) | h));
    }
    out[r + 1] = static_cast<int32_t>(out.size() - rows - 1);
  }
  return out;
}

void csr_matmul_add(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  auto run = [&](int, size_t begin, size_t end) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * s.cols;
      float* yt = y + t * s.rows;
      for (size_t r = begin; r < end; ++r) {
        float acc = 0;
        for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) acc += value_of(s.entries[i]) * xt[column_of(s.entries[i])];
        yt[r] += acc;
      }
    }
  };
  // Outliers are ~1% of a matrix: threads pay only where there are many.
  if (pool && s.nnz() * n_tokens >= (1 << 16)) pool->parallel_for(s.rows, run);
  else run(0, 0, s.rows);
}

void csr_matmul_add_ref(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y) {
  std::vector<double> dense(s.rows * s.cols, 0.0);
  for (int64_t r = 0; r < s.rows; ++r)
    for (int32_t i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i)
      dense[r * s.cols + column_of(s.entries[i])] += value_of(s.entries[i]);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < s.rows; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < s.cols; ++c) acc += dense[r * s.cols + c] * x[t * s.cols + c];
      y[t * s.rows + r] = static_cast<float>(y[t * s.rows + r] + acc);
    }
}

}  // namespace edgerag
