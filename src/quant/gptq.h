// GPTQ (Frantar et al. 2022): quantizes a weight matrix column by column and
// spreads each column's rounding error over the not-yet-quantized columns using
// the inverse Hessian of the layer's reconstruction loss, H = sum_t x_t x_t^T
// over calibration activations x_t (the inputs of this linear layer).
#pragma once
#include <vector>

#include "quant/rtn.h"

namespace edgerag::quant {

struct GptqOptions {
  double damp = 0.01;      // added to H's diagonal, as a fraction of its mean
  bool act_order = false;  // quantize columns by decreasing H diagonal (groups stay static)
};

// SpQR's use of GPTQ (spqr.h). Sensitivity of a weight is the GPTQ loss of
// quantizing it, err^2 / [H^-1]_jj over the remaining columns. Outliers are kept
// in the side tensor: they stay out of their group's parameter fit, their code
// is the nearest one and the residual w - dequant goes to `residual`, rounded as
// the side tensor stores it (fp16, tensor/sparse.h);
// the rest of the error, that rounding included, is spread as usual.
struct GptqOutliers {
  const std::vector<uint8_t>* mask = nullptr;  // in: rows * cols, nonzero = outlier
  std::vector<float>* residual = nullptr;      // out: rows * cols (zero except at outliers)
  std::vector<float>* sensitivity = nullptr;   // out: rows * cols
};

// `hessian` is cols x cols (row-major), e.g. from calibration (calib.h). Group
// parameters come from the error-updated weights when their group starts
// (act_order: from the original weights, so groups remain contiguous blocks).
// Bilevel types (ER_Q3_G16_BL): a block's scale step from its groups' fits when
// the block starts, then each group's 3-bit scale and zero under it when the
// group starts; the weights are coded with those stored statistics.
QuantizedTensor quantize_gptq(const Scheme& s, const float* w, int64_t rows, int64_t cols,
                              const std::vector<double>& hessian, const GptqOptions& opt, ThreadPool* pool,
                              const GptqOutliers& outliers = {});

}  // namespace edgerag::quant
