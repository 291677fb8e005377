// Group-wise quantization where each group's parameters depend only on its own
// weights: round-to-nearest (RTN, also NF4 with absmax) and HQQ (hqq.h).
#pragma once
#include <functional>

#include "quant/qtensor.h"
#include "quant/scheme.h"
#include "util/thread_pool.h"

namespace edgerag::quant {

// Parameters (before storage rounding) for the group w[0..n).
using GroupFitter = std::function<GroupParams(const float* w, int n)>;

// Fits every group with `fit`, rounds the parameters to storage precision, codes
// each weight to its nearest level and packs the rows. `pool` may be nullptr.
QuantizedTensor quantize_grouped(const Scheme& s, const float* w, int64_t rows, int64_t cols, const GroupFitter& fit,
                                 ThreadPool* pool);

// Round-to-nearest with the scheme's own parameter fit (Scheme::fit).
QuantizedTensor quantize_rtn(const Scheme& s, const float* w, int64_t rows, int64_t cols, ThreadPool* pool);

}  // namespace edgerag::quant
