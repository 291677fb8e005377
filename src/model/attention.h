// Causal attention of query heads over a sequence's paged K/V: a tiled online
// softmax, one cache block (block_size keys) per tile, so no score matrix is
// materialized. The query heads sharing a KV head (GQA) go together, so a
// quantized tile is decoded once for all of them.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_cache.h"

namespace edgerag {

struct AttentionScratch {
  std::vector<float> scores;  // [block_size]
  std::vector<float> m, l;    // [heads] running maximum and sum
  std::vector<float> k, v;    // [block_size, head_dim] decoded tiles (non-F32 caches)
  void fit(const KvCacheConfig& c, int32_t max_heads);
};

// For each of n_heads query heads (q and out: [n_heads][head_dim]):
// out = sum_j softmax(scale * q.k_j) v_j over keys 0..n_keys-1 of the sequence
// whose blocks are `blocks`, in KV head `kv_head` of `layer`.
void attend(const KvCache& cache, std::span<const int32_t> blocks, int32_t layer, int32_t kv_head, const float* q,
            int32_t n_heads, int32_t n_keys, float scale, float* out, AttentionScratch& scratch);

// The softmax weights of the same computation (n_keys values), for capture hooks.
std::vector<float> attention_weights(const KvCache& cache, std::span<const int32_t> blocks, int32_t layer,
                                     int32_t kv_head, const float* q, int32_t n_keys, float scale);

}  // namespace edgerag
