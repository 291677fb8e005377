#include "quant/qtensor.h"

namespace edgerag::quant {

std::vector<float> QuantizedTensor::dequantize() const {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  const size_t rb = row_size(type, cols);
  for (int64_t r = 0; r < rows; ++r) dequantize_row(type, data.data() + r * rb, out.data() + r * cols, cols);
  return out;
}

QuantizedTensor quantize_reference(DType type, const float* w, int64_t rows, int64_t cols) {
  QuantizedTensor q{type, rows, cols, {}};
  const size_t rb = row_size(type, cols);
  q.data.resize(rb * rows);
  for (int64_t r = 0; r < rows; ++r) quantize_row(type, w + r * cols, q.data.data() + r * rb, cols);
  return q;
}

}  // namespace edgerag::quant
