// Causal attention of a batch's query heads over their sequences' paged K/V,
// as blocked matrix products (the FlashAttention structure): a query tile (the
// batch tokens of one sequence that fall in one cache block, times the query
// heads sharing a KV head) against key tiles of 16 keys read from the blocks,
// with an online softmax, times the value tile. No score matrix is
// materialized, and a quantized K/V tile is decoded once per query tile.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/batch.h"
#include "model/kv_cache.h"
#include "util/thread_pool.h"

namespace edgerag {

// For every batch token t and query head h (q and out: [batch.size()][n_head *
// head_dim]): out = sum_j softmax_j(scale * q.k_j) v_j over positions 0..pos of
// the token's sequence in `layer`, with KV head h / (n_head / n_head_kv). The
// cache must already hold the batch's own keys and values (not yet committed).
// Work items are (query tile, KV head) and, for one-token tiles (decode steps)
// over long contexts, also ranges of key blocks merged by log-sum-exp. A
// token's result does not depend on what else is in the batch.
void attention(const KvCache& cache, const Batch& batch, int32_t layer, const float* q, int32_t n_head, float scale,
               float* out, ThreadPool* pool);

// The same computation, one token and head at a time with double sums: the
// slow reference the tiled path is tested against.
void attention_reference(const KvCache& cache, const Batch& batch, int32_t layer, const float* q, int32_t n_head,
                         float scale, float* out);

// Softmax weights of one query head over keys 0..n_keys-1 of the sequence whose
// blocks are `blocks` (the last one holds the querying token), KV head `kv_head`
// of `layer` (capture hooks and the reference).
std::vector<float> attention_weights(const KvCache& cache, std::span<const int32_t> blocks, int32_t layer,
                                     int32_t kv_head, const float* q, int32_t n_keys, float scale);

}  // namespace edgerag
