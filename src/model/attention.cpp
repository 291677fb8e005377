#include "model/attention.h"

#include <algorithm>
#include <cmath>

#include "tensor/ops.h"

namespace edgerag {

void AttentionScratch::fit(const KvCacheConfig& c, int32_t max_heads) {
  scores.resize(c.block_size);
  m.resize(max_heads);
  l.resize(max_heads);
  if (c.type.is_kivi() || c.type.row != DType::F32) {
    k.resize(static_cast<size_t>(c.block_size) * c.head_dim);
    v.resize(k.size());
  }
}

void attend(const KvCache& cache, std::span<const int32_t> blocks, int32_t layer, int32_t kv_head, const float* q,
            int32_t n_heads, int32_t n_keys, float scale, float* out, AttentionScratch& s) {
  const int32_t bs = cache.block_size(), hd = cache.config().head_dim;
  std::fill(s.m.begin(), s.m.begin() + n_heads, -INFINITY);
  std::fill(s.l.begin(), s.l.begin() + n_heads, 0.0f);
  std::fill(out, out + static_cast<size_t>(n_heads) * hd, 0.0f);
  for (int32_t start = 0, bi = 0; start < n_keys; start += bs, ++bi) {
    const int32_t n = std::min(bs, n_keys - start);
    const float* k = cache.k_tile(blocks[bi], layer, kv_head, n, s.k.data(), start + n == n_keys);
    const float* v = cache.v_tile(blocks[bi], layer, kv_head, n, s.v.data());
    for (int32_t h = 0; h < n_heads; ++h) {
      const float* qh = q + static_cast<size_t>(h) * hd;
      float* oh = out + static_cast<size_t>(h) * hd;
      float tile_max = -INFINITY;
      for (int32_t j = 0; j < n; ++j) {
        s.scores[j] = dot_f32(qh, k + static_cast<size_t>(j) * hd, hd) * scale;
        tile_max = std::max(tile_max, s.scores[j]);
      }
      if (tile_max > s.m[h]) {  // rescale what was accumulated under the old maximum
        const float f = std::exp(s.m[h] - tile_max);
        for (int32_t d = 0; d < hd; ++d) oh[d] *= f;
        s.l[h] *= f;
        s.m[h] = tile_max;
      }
      for (int32_t j = 0; j < n; ++j) {
        const float p = std::exp(s.scores[j] - s.m[h]);
        s.l[h] += p;
        axpy_f32(p, v + static_cast<size_t>(j) * hd, oh, hd);
      }
    }
  }
  for (int32_t h = 0; h < n_heads; ++h) {
    const float inv = 1.0f / s.l[h];
    for (int32_t d = 0; d < hd; ++d) out[static_cast<size_t>(h) * hd + d] *= inv;
  }
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
