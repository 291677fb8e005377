// AutoRound (Cheng et al. 2023): signed gradient descent on each weight's
// rounding offset V in [-0.5, 0.5] and on each group's clipping range (alpha on
// the max, beta on the min, both in [0.5, 1]), with the rounding passed straight
// through in the backward step. The objective is the layer's output error on
// the calibration activations, sum_r (w_r - w_hat_r)^T G (w_r - w_hat_r) with the
// Gram matrix G = sum_t x_t x_t^T (GPTQ's Hessian), which separates by row, so
// every row is optimised on its own. Iteration 0 is round-to-nearest and the
// best iterate is kept: never worse than RTN on the objective. Codes and group
// parameters go into the scheme's usual GGUF blocks.
#pragma once
#include <vector>

#include "quant/rtn.h"

namespace edgerag::quant {

struct AutoRoundOptions {
  int iters = 50;        // the study: 50 iterations
  float lr = 5e-3f;      // decays linearly to 0 over the iterations
  int nsamples = 64;     // calibration sequences (model_quantizer: calib_ctx tokens each)
};

// Uniform schemes only (not NF4). `gram` is cols x cols, row-major.
QuantizedTensor quantize_autoround(const Scheme& s, const float* w, int64_t rows, int64_t cols,
                                   const std::vector<double>& gram, const AutoRoundOptions& opt, ThreadPool* pool);

}  // namespace edgerag::quant
