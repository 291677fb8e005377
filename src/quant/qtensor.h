// A quantized weight matrix as the quantizers return it: `rows` rows of `cols`
// elements stored as `type` (GGUF ne = [cols, rows]).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/ops.h"

namespace edgerag::quant {

struct QuantizedTensor {
  DType type = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> data;

  Matrix matrix() const { return Matrix::of(type, cols, rows, data.data()); }
  std::vector<float> dequantize() const;  // rows * cols floats
};

// Every row through the type's reference quantizer (quantize_row).
QuantizedTensor quantize_reference(DType type, const float* w, int64_t rows, int64_t cols);

}  // namespace edgerag::quant
