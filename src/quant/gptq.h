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

// `hessian` is cols x cols (row-major), e.g. from calibration (calib.h). Group
// parameters come from the error-updated weights when their group starts
// (act_order: from the original weights, so groups remain contiguous blocks).
QuantizedTensor quantize_gptq(const Scheme& s, const float* w, int64_t rows, int64_t cols,
                              const std::vector<double>& hessian, const GptqOptions& opt, ThreadPool* pool);

}  // namespace edgerag::quant
