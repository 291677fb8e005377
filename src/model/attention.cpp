#include "model/attention.h"

#include <algorithm>
#include <cmath>

#include "tensor/ops.h"

namespace edgerag {

void AttentionScratch::fit(const KvCacheConfig& c) {
  scores.resize(c.block_size);
  if (c.type.is_kivi() || c.type.row != DType::F32) {
    k.resize(static_cast<size_t>(c.block_size) * c.head_dim);
    v.resize(k.size());
  }
}

void attend(const KvCache& cache, std::span<const int32_t> blocks, int32_t layer, int32_t kv_head, const float* q,
            int32_t n_keys, float scale, float* out, AttentionScratch& s) {
  const int32_t bs = cache.block_size(), hd = cache.config().head_dim;
  float m = -INFINITY, l = 0;
  std::fill(out, out + hd, 0.0f);
  for (int32_t start = 0, bi = 0; start < n_keys; start += bs, ++bi) {
    const int32_t n = std::min(bs, n_keys - start);
    const float* k = cache.k_tile(blocks[bi], layer, kv_head, n, s.k.data(), start + n == n_keys);
    float tile_max = -INFINITY;
    for (int32_t j = 0; j < n; ++j) {
      s.scores[j] = dot_f32(q, k + static_cast<size_t>(j) * hd, hd) * scale;
      tile_max = std::max(tile_max, s.scores[j]);
    }
    if (tile_max > m) {  // rescale what was accumulated under the old maximum
      const float f = std::exp(m - tile_max);
      for (int32_t d = 0; d < hd; ++d) out[d] *= f;
      l *= f;
      m = tile_max;
    }
    const float* v = cache.v_tile(blocks[bi], layer, kv_head, n, s.v.data());
    for (int32_t j = 0; j < n; ++j) {
      const float p = std::exp(s.scores[j] - m);
      l += p;
      axpy_f32(p, v + static_cast<size_t>(j) * hd, out, hd);
    }
  }
  const float inv = 1.0f / l;
  for (int32_t d = 0; d < hd; ++d) out[d] *= inv;
}

std::vector<float> attention_weights(const KvCache& cache, std::span<const int32_t> blocks, int32_t layer,
                                     int32_t kv_head, const float* q, int32_t n_keys, float scale) {
  const int32_t bs = cache.block_size(), hd = cache.config().head_dim;
  std::vector<float> w(n_keys), buf(static_cast<size_t>(bs) * hd);
  for (int32_t start = 0, bi = 0; start < n_keys; start += bs, ++bi) {
    const int32_t n = std::min(bs, n_keys - start);
    const float* k = cache.k_tile(blocks[bi], layer, kv_head, n, buf.data(), start + n == n_keys);
    for (int32_t j = 0; j < n; ++j) w[start + j] = dot_f32(q, k + static_cast<size_t>(j) * hd, hd) * scale;
  }
  softmax_inplace(w.data(), n_keys);
  return w;
}

}  // namespace edgerag
