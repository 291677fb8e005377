// Non-causal multi-head attention over inputs packed back to back (encoders,
// model/bert.h), optionally restricted to a symmetric window.
#pragma once
#include <cstdint>
#include <vector>

#include "util/thread_pool.h"

namespace edgerag {

// For every input s (token rows [start[s], start[s+1])) and head h:
// out = softmax(Q K^T / sqrt(head_dim)) V over the input's own tokens. Q, K and V
// rows are `stride` floats apart (head h at columns [h*head_dim, (h+1)*head_dim));
// out is [tokens, n_head * head_dim]. half_window >= 0 lets query i see key j only
// when |i - j| <= half_window. Queries go in tiles, so the scratch memory is
// O(tile * length) per worker, never length^2.
void encoder_attention(const float* q, const float* k, const float* v, int64_t stride,
                       const std::vector<int64_t>& start, int64_t n_head, int64_t head_dim, int64_t half_window,
                       float* out, ThreadPool* pool);

}  // namespace edgerag
