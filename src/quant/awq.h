// AWQ (Lin et al. 2024): activation-aware per-input-channel scaling. Weights of
// salient input channels (large mean |x|) are scaled up before quantization and
// the inverse scale is folded into whatever produces the input (a norm weight
// or the rows of the previous linear layer), so y = (W diag(s)) (x / s) is
// unchanged in exact arithmetic. s = mean|x|^a, normalized by sqrt(max s * min s),
// is searched over a in {0, 1/grid, ..., (grid-1)/grid}, minimizing the error of
// the output of the block the weights belong to (attention or MLP block, or a
// single linear layer; the caller's objective). a = 0 is s = 1, plain RTN, so
// the chosen scales never do worse than RTN on the objective.
#pragma once
#include <functional>
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
  int grid = 20;       // exponents a in {0, 1/grid, ..., (grid-1)/grid}
  bool verify = true;  // model_quantizer: keep a kind of scaling only where it lowers the calibration loss
};

// Error of the block output when the block's weights are replaced by `w_hat`
// (one rows x cols matrix per AwqWeight, in the same order, the scale undone:
// Q(W diag(s)) diag(s)^-1).
using AwqObjective = std::function<double(const std::vector<std::vector<float>>& w_hat)>;

struct AwqResult {
  std::vector<float> scales;               // per input channel; divide the producer by these
  std::vector<QuantizedTensor> quantized;  // RTN of W diag(s), one per weight
  double error = 0;                        // objective at the chosen scales
  double rtn_error = 0;                    // objective at s = 1 (a = 0)
  float alpha = 0;                         // chosen exponent
};

// `x_absmean` = mean_t |x_t| of the shared input. Channels that must share one
// scale (e.g. attention-output columns over one grouped KV head) must have equal means.
AwqResult awq_quantize(const std::vector<AwqWeight>& weights, int64_t cols, const std::vector<float>& x_absmean,
                       const AwqObjective& objective, const AwqOptions& opt, ThreadPool* pool);

// Objective of linear layers judged on their own outputs: the sum over the
// weights of output_error against `gram` (which must outlive the objective).
AwqObjective linear_output_objective(const std::vector<AwqWeight>& weights, int64_t cols,
                                     const std::vector<double>& gram);

// Activation-weighted reconstruction error sum_r (w_r - v_r)^T G (w_r - v_r),
// i.e. the squared output error over the calibration tokens behind G.
double output_error(const float* w, const float* w_hat, int64_t rows, int64_t cols, const std::vector<double>& gram);

}  // namespace edgerag::quant
