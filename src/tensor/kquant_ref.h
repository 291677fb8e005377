// Internal to the tensor module: reference quantizers of the K-quant formats
// (same algorithm as the published reference code, so files written by edgerag
// match what the usual tools produce from the same floats). n is a multiple of 256.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace edgerag {

void quantize_q4_k_ref(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k_ref(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k_ref(const float* x, BlockQ6_K* y, int64_t n);

}  // namespace edgerag
