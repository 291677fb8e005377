// Half-Quadratic Quantization (HQQ, Badri & Shaji 2023): calibration-free
// per-group optimization of the offset (scale for symmetric schemes) under a
// sparsity-promoting lp (p < 1) loss on the weight error, solved by alternating
// a generalized soft-threshold of the error with a closed-form parameter update.
#pragma once
#include "quant/rtn.h"

namespace edgerag::quant {

struct HqqOptions {
  float lp = 0.7f;     // p of the lp loss
  float beta = 10.0f;  // initial half-quadratic penalty
  float kappa = 1.01f; // beta growth per iteration
  int iters = 20;
};

// Parameters of one group, starting from the RTN fit; stops when the mean
// absolute error of the (storage-rounded) result stops decreasing.
GroupParams hqq_fit(const Scheme& s, const float* w, int n, const HqqOptions& opt);

QuantizedTensor quantize_hqq(const Scheme& s, const float* w, int64_t rows, int64_t cols, const HqqOptions& opt,
                             ThreadPool* pool);

}  // namespace edgerag::quant
