#include "quant/rtn.h"

#include "util/error.h"

namespace edgerag::quant {

QuantizedTensor quantize_grouped(const Scheme& s, const float* w, int64_t rows, int64_t cols, const GroupFitter& fit,
                                 ThreadPool* pool) {
  EDGERAG_CHECK(cols % s.group == 0, "{} columns are not a multiple of the group size {}", cols, s.group);
  QuantizedTensor q{s.type, rows, cols, {}};
  const size_t rb = row_size(s.type, cols);
  q.data.resize(rb * rows);
  auto run = [&](int, size_t begin, size_t end) {
    std::vector<uint8_t> codes(cols);
    std::vector<GroupParams> params(cols / s.group);
    for (size_t r = begin; r < end; ++r) {
      const float* row = w + r * cols;
      for (int64_t g = 0; g < cols / s.group; ++g) params[g] = fit(row + g * s.group, s.group);
      s.share_steps(params.data(), cols / s.group);
      for (int64_t g = 0; g < cols / s.group; ++g) {
        const float* x = row + g * s.group;
        const GroupParams p = params[g] = s.stored(params[g]);
        for (int i = 0; i < s.group; ++i) codes[g * s.group + i] = s.code(x[i], p);
      }
      s.pack(codes.data(), params.data(), cols, q.data.data() + r * rb);
    }
  };
  if (pool) pool->parallel_for(rows, run);
  else run(0, 0, rows);
  return q;
}

QuantizedTensor quantize_rtn(const Scheme& s, const float* w, int64_t rows, int64_t cols, ThreadPool* pool) {
  return quantize_grouped(s, w, rows, cols, [&s](const float* x, int n) { return s.fit(x, n); }, pool);
}

}  // namespace edgerag::quant
