#include "tensor/sparse.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "tensor/fp16.h"
#include "util/error.h"

namespace edgerag {
namespace {

constexpr size_t kHeaderBytes = 4;

uint16_t column_mask(int bits) { return static_cast<uint16_t>((1u << bits) - 1); }
float value_of(const CsrOutliers& s, int64_t p) { return fp16_to_fp32(static_cast<uint16_t>(s.values[p] & s.value_mask)); }
// Column of entry p within its segment: its own byte (format 3) or the value's low bits (format 2).
int64_t segment_column(const CsrOutliers& s, int64_t p) {
  return s.column_bytes ? s.column_bytes[p] : s.values[p] & column_mask(s.column_bits);
}
bool finite_fp16(uint16_t h) { return (h & 0x7C00) != 0x7C00; }
int64_t segments(int64_t cols, int bits) { return (cols + (int64_t{1} << bits) - 1) >> bits; }

}  // namespace

int outlier_column_bits(int64_t cols) {
  return cols <= 1 ? 0 : std::min(static_cast<int>(std::bit_width(static_cast<uint64_t>(cols - 1))), kOutlierMaxColumnBits);
}

float round_outlier_value(float v, int dropped_bits) {
  const uint16_t h = fp32_to_fp16(v);
  if (dropped_bits == 0) return fp16_to_fp32(h);
  // Sign and magnitude: clearing the low bits truncates toward zero; one step up
  // in the magnitude is the other neighbour (a carry into the exponent is right).
  const auto lo = static_cast<uint16_t>(h & ~column_mask(dropped_bits));
  const auto hi = static_cast<uint16_t>(lo + (1u << dropped_bits));
  const float a = fp16_to_fp32(lo), b = fp16_to_fp32(hi);
  return finite_fp16(hi) && std::fabs(b - v) < std::fabs(a - v) ? b : a;
}

CsrOutliers CsrOutliers::view(DType type, const void* data, size_t nbytes, int64_t rows, int64_t cols,
                              const std::string& what) {
  EDGERAG_CHECK(type != DType::I32, "{}: SpQR outliers in format 1 (I32 CSR, 32 bits per outlier) are no longer read; "
                "re-quantize the model", what);
  EDGERAG_CHECK(type == DType::I8, "{}: type {}, expected I8", what, dtype_name(type));
  EDGERAG_CHECK(rows >= 0 && cols >= 0, "{}: bad matrix shape {} x {}", what, rows, cols);
  const auto* bytes = static_cast<const uint8_t*>(data);
  const int format = nbytes >= kHeaderBytes ? bytes[0] : 0;
  EDGERAG_CHECK(format == 2 || format == kOutlierFormat, "{}: not a format 2 or {} outlier tensor ({} bytes, format byte {})",
                what, kOutlierFormat, nbytes, nbytes ? bytes[0] : 0);
  const int bits = bytes[1];
  EDGERAG_CHECK(bits <= kOutlierMaxColumnBits && bytes[2] == 0 && bytes[3] == 0,
                "{}: bad header (column bits {}, reserved {} {})", what, bits, bytes[2], bytes[3]);
  EDGERAG_CHECK(reinterpret_cast<uintptr_t>(bytes) % alignof(uint16_t) == 0, "{}: data is not 2-byte aligned", what);
  CsrOutliers s;
  s.rows = rows, s.cols = cols, s.column_bits = bits, s.segs = segments(cols, bits);
  const size_t count_bytes = static_cast<size_t>(rows) * static_cast<size_t>(s.segs);
  const size_t entry_bytes = format == 2 ? 2 : 3;  // format 3: fp16 value + column byte
  EDGERAG_CHECK(nbytes - kHeaderBytes >= count_bytes && (nbytes - kHeaderBytes - count_bytes) % entry_bytes == 0,
                "{}: {} bytes do not hold {} row counts and whole {}-byte entries", what, nbytes, count_bytes,
                entry_bytes);
  const size_t nnz = (nbytes - kHeaderBytes - count_bytes) / entry_bytes;
  EDGERAG_CHECK(nnz <= static_cast<size_t>(std::numeric_limits<int32_t>::max()), "{}: {} entries", what, nnz);
  s.values = reinterpret_cast<const uint16_t*>(bytes + kHeaderBytes);
  s.value_mask = format == 2 ? static_cast<uint16_t>(~column_mask(bits)) : uint16_t{0xFFFF};
  s.column_bytes = format == 2 ? nullptr : bytes + kHeaderBytes + 2 * nnz;
  s.counts = bytes + kHeaderBytes + entry_bytes * nnz;
  EDGERAG_CHECK(cols <= 65536, "{}: rows of {} columns exceed the decoded 16-bit column index", what, cols);
  auto decoded = std::make_shared<Decoded>();
  auto& offsets = decoded->row_ptr;
  offsets.assign(rows + 1, 0);
  decoded->columns.resize(nnz);
  const int64_t width = int64_t{1} << bits;
  size_t p = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < s.segs; ++g) {
      const int64_t n = s.counts[r * s.segs + g], seg_cols = std::min(width, cols - g * width);
      EDGERAG_CHECK(n <= seg_cols && p + n <= nnz, "{}: row {} segment {}: {} entries (segment of {} columns, {} left)",
                    what, r, g, n, seg_cols, nnz - p);
      for (int64_t k = 0; k < n; ++k, ++p) {
        const int64_t c = segment_column(s, p);
        EDGERAG_CHECK(c < seg_cols && (k == 0 || c > segment_column(s, p - 1)) &&
                          finite_fp16(static_cast<uint16_t>(s.values[p] & s.value_mask)),
                      "{}: row {}: entry {} (column {}) is out of range, out of order or not finite", what, r, p,
                      g * width + c);
        decoded->columns[p] = static_cast<uint16_t>(g * width + c);
      }
    }
    offsets[r + 1] = static_cast<int32_t>(p);
  }
  EDGERAG_CHECK(p == nnz, "{}: the counts cover {} of its {} entries", what, p, nnz);
  s.row_ptr = offsets.data();
  s.columns = decoded->columns.data();
  s.decoded = std::move(decoded);
  return s;
}

std::vector<uint8_t> csr_encode(const float* dense, int64_t rows, int64_t cols, int format) {
  EDGERAG_CHECK(format == 2 || format == kOutlierFormat, "outliers: no format {}", format);
  const int bits = outlier_column_bits(cols), dropped = format == 2 ? bits : 0;
  const int64_t segs = segments(cols, bits), width = int64_t{1} << bits;
  std::vector<uint8_t> out{static_cast<uint8_t>(format), static_cast<uint8_t>(bits), 0, 0}, columns,
      counts(rows * segs, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = dense[r * cols + c];
      EDGERAG_CHECK(std::isfinite(v) && std::fabs(v) <= 65504, "outliers: value {} at ({}, {}) is not a finite fp16", v,
                    r, c);
      const float q = round_outlier_value(v, dropped);
      if (q == 0) continue;
      auto e = fp32_to_fp16(q);
      if (format == 2) e = static_cast<uint16_t>(e | (c & (width - 1)));
      else columns.push_back(static_cast<uint8_t>(c & (width - 1)));
      out.push_back(static_cast<uint8_t>(e & 0xFF));
      out.push_back(static_cast<uint8_t>(e >> 8));
      ++counts[r * segs + (c >> bits)];
    }
  out.insert(out.end(), columns.begin(), columns.end());
  out.insert(out.end(), counts.begin(), counts.end());
  return out;
}

void csr_matmul_add(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  // A row's values are decoded once per tile of tokens (not once per token):
  // prefill pays the fp16 decode 1/kTile as often, and x's tile stays in cache.
  constexpr int64_t kTile = 32;
  auto run = [&](int, size_t begin, size_t end) {
    if (n_tokens == 1) {  // decode: each value is used once, nothing to keep
      for (size_t r = begin; r < end; ++r) {
        float acc = 0;
        for (int32_t p = s.row_ptr[r]; p < s.row_ptr[r + 1]; ++p)
          acc += value_of(s, p) * x[s.columns[p]];
        y[r] += acc;
      }
      return;
    }
    std::vector<float> val(s.cols);  // a row holds at most cols entries
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTile) {
      const int64_t t1 = std::min(n_tokens, t0 + kTile);
      for (size_t r = begin; r < end; ++r) {
        const int64_t p = s.row_ptr[r], m = s.row_ptr[r + 1] - p;
        const uint16_t* col = s.columns + p;
        for (int64_t k = 0; k < m; ++k) val[k] = value_of(s, p + k);
        for (int64_t t = t0; t < t1; ++t) {
          const float* xt = x + t * s.cols;
          float acc = 0;
          for (int64_t k = 0; k < m; ++k) acc += val[k] * xt[col[k]];
          y[t * s.rows + r] += acc;
        }
      }
    }
  };
  // Outliers are ~1% of a matrix: threads pay only where there are many.
  if (pool && s.nnz() * n_tokens >= (1 << 16)) pool->parallel_for(s.rows, run);
  else run(0, 0, s.rows);
}

void csr_matmul_add_ref(const CsrOutliers& s, const float* x, int64_t n_tokens, float* y) {
  std::vector<double> dense(s.rows * s.cols, 0.0);
  int64_t p = 0;
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t g = 0; g < s.segs; ++g)
      for (int k = 0; k < s.counts[r * s.segs + g]; ++k, ++p)
        dense[r * s.cols + (g << s.column_bits) + segment_column(s, p)] += value_of(s, p);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < s.rows; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < s.cols; ++c) acc += dense[r * s.cols + c] * x[t * s.cols + c];
      y[t * s.rows + r] = static_cast<float>(y[t * s.rows + r] + acc);
    }
}

}  // namespace edgerag
