// AWQ (Lin et al. 2023): activation-aware per-input-channel scaling. Weights of
// salient input channels (large mean |x|) are scaled up before quantization and
// the inverse scale is folded into whatever produces the input (a norm weight
// or the rows of the previous linear layer), so y = (W diag(s)) (x / s) is
// unchanged in exact arithmetic. The scale s = mean|x|^a / mean|w|^(1-a) is
// searched over a grid of a, minimizing the calibration output error.
#pragma once
#include <vector>

#include "quant/rtn.h"

namespace edgerag::quant {

// One weight matrix (rows x cols, row-major) reading the shared input.
struct AwqWeight {
  const float* w = nullptr;
  int64_t rows = 0;
  Scheme scheme;
};

struct AwqOptions {
  int grid = 20;  // a in {0, 1/grid, ..., (grid-1)/grid}; s = 1 (plain RTN) is always a candidate
};

struct AwqResult {
  std::vector<float> scales;               // per input channel; divide the producer by these
  std::vector<QuantizedTensor> quantized;  // RTN of W diag(s), one per weight
  double error = 0;                        // sum of output_error over the weights
  float alpha = -1;                        // chosen exponent (-1: no scaling won)
};

// `gram` = sum_t x_t x_t^T (cols x cols) and `x_absmean` = mean_t |x_t| of the shared input.
AwqResult awq_quantize(const std::vector<AwqWeight>& weights, int64_t cols, const std::vector<double>& gram,
                       const std::vector<float>& x_absmean, const AwqOptions& opt, ThreadPool* pool);

// Activation-weighted reconstruction error sum_r (w_r - v_r)^T G (w_r - v_r),
// i.e. the squared output error over the calibration tokens behind G.
double output_error(const float* w, const float* w_hat, int64_t rows, int64_t cols, const std::vector<double>& gram);

}  // namespace edgerag::quant
