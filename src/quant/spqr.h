// SpQR-style quantization (Dettmers et al. 2023, "SpQR: A Sparse-Quantized
// Representation for Near-Lossless LLM Weight Compression"): GPTQ over small
// groups, plus the few weights whose GPTQ sensitivity is highest kept in fp16 in
// a sparse side matrix (tensor/sparse.h) that the model adds back after the
// dense product. Outliers are left out of their group's min/max fit, so the
// other weights of the group get a finer grid.
//
// What is stored how: the dense part is the block type of the chosen bits and
// group: with --bits 3 --group 16 the paper's bilevel statistics (ER_Q3_G16_BL,
// tensor/edgerag_types.h: 3-bit scales and zeros of groups of 16 over blocks of
// 64, 3.625 bits per weight), otherwise a standard type (e.g. ER_Q3_G64). The side tensor
// (tensor/sparse.h, format 3) costs 24 bits per outlier (the full fp16 value +
// its column within a segment of at most 128 columns) plus 8 bits per row segment.
#pragma once
#include <vector>

#include "quant/gptq.h"

namespace edgerag::quant {

struct SpqrOptions {
  double outlier_share = 0.01;  // fraction of each matrix's weights kept in fp16
};

struct SpqrTensor {
  QuantizedTensor dense;
  std::vector<uint8_t> outliers;  // side tensor (tensor/sparse.h)
  int64_t n_outliers = 0;
};

// Two GPTQ passes: the first measures every weight's sensitivity, the top
// `outlier_share` become outliers, the second quantizes with them held out.
SpqrTensor quantize_spqr(const Scheme& s, const float* w, int64_t rows, int64_t cols, const std::vector<double>& hessian,
                         const GptqOptions& gptq, const SpqrOptions& opt, ThreadPool* pool);

}  // namespace edgerag::quant
