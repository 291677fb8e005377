#include "model/chunk_kv.h"

#include <cstring>

#include "model/kv_quant.h"
#include "model/model.h"
#include "util/error.h"

namespace edgerag {
namespace {

void encode_row(const KvType& type, const float* x, int32_t dim, uint8_t* dst) {
  if (type.is_kivi()) return kv_quantize_token(x, dim, type.kivi_bits, dst);
  if (type.row == DType::F32) return void(std::memcpy(dst, x, dim * sizeof(float)));
  quantize_row(type.row, x, dst, dim);
}

}  // namespace

size_t chunk_row_bytes(const KvType& type, int32_t head_dim) {
  return type.is_kivi() ? kv_token_bytes(head_dim, type.kivi_bits) : row_size(type.row, head_dim);
}

size_t ChunkKv::row_bytes() const { return chunk_row_bytes(type, head_dim); }

size_t ChunkKv::row_offset(int32_t layer, int kv, int32_t head, int32_t token) const {
  const size_t rows = ((static_cast<size_t>(layer) * 2 + kv) * n_head_kv + head) * n_tokens + token;
  return rows * row_bytes();
}

void ChunkKv::read_row(int32_t layer, int kv, int32_t head, int32_t token, float* out) const {
  const uint8_t* src = data.data() + row_offset(layer, kv, head, token);
  if (type.is_kivi()) return kv_dequantize_token(src, head_dim, type.kivi_bits, out);
  if (type.row == DType::F32) return void(std::memcpy(out, src, head_dim * sizeof(float)));
  dequantize_row(type.row, src, out, head_dim);
}

ChunkKv capture_chunk(const KvCache& cache, SeqId seq, int32_t from, int32_t n) {
  const KvCacheConfig& cfg = cache.config();
  EDGERAG_CHECK(from >= 0 && n > 0 && from + n <= cache.seq_len(seq),
                "chunk KV: positions [{}, {}) are not cached in sequence {}", from, from + n, seq);
  ChunkKv c;
  c.type = cfg.type;
  c.n_layer = cfg.n_layer, c.n_head_kv = cfg.n_head_kv, c.head_dim = cfg.head_dim;
  c.n_tokens = n;
  c.pos = from;
  c.data.resize(static_cast<size_t>(cfg.n_layer) * 2 * cfg.n_head_kv * n * c.row_bytes());
  const int32_t bs = cfg.block_size, hd = cfg.head_dim;
  std::vector<float> buf(static_cast<size_t>(bs) * hd);
  const auto& table = cache.block_table(seq);
  for (int32_t l = 0; l < cfg.n_layer; ++l)
    for (int kv = 0; kv < 2; ++kv)
      for (int32_t h = 0; h < cfg.n_head_kv; ++h)
        for (int32_t b = from / bs; b * bs < from + n; ++b) {
          const int32_t rows = std::min(bs, cache.seq_len(seq) - b * bs);
          const float* tile = kv == 0 ? cache.k_tile(table[b], l, h, rows, buf.data())
                                      : cache.v_tile(table[b], l, h, rows, buf.data());
          for (int32_t p = std::max(from, b * bs); p < std::min(from + n, b * bs + rows); ++p)
            encode_row(c.type, tile + static_cast<size_t>(p - b * bs) * hd, hd,
                       c.data.data() + c.row_offset(l, kv, h, p - from));
        }
  return c;
}

void place_chunk(const Model& model, KvCache& cache, SeqId seq, const ChunkKv& c) {
  const KvCacheConfig& cfg = cache.config();
  EDGERAG_CHECK(c.type == cfg.type && c.n_layer == cfg.n_layer && c.n_head_kv == cfg.n_head_kv &&
                    c.head_dim == cfg.head_dim && c.n_tokens > 0 &&
                    c.data.size() == static_cast<size_t>(c.n_layer) * 2 * c.n_head_kv * c.n_tokens * c.row_bytes(),
                "chunk KV: chunk of {} ({} layers, {} KV heads, head dim {}) does not fit this cache ({})",
                c.type.name(), c.n_layer, c.n_head_kv, c.head_dim, cfg.type.name());
  const int32_t start = cache.seq_len(seq), hd = cfg.head_dim, nkv = cfg.n_head_kv;
  cache.reserve(seq, c.n_tokens);
  std::vector<float> k(static_cast<size_t>(nkv) * hd), v(hd);
  for (int32_t t = 0; t < c.n_tokens; ++t) {
    const int32_t pos = start + t, blk = cache.block_of(seq, pos), slot = pos % cfg.block_size;
    for (int32_t l = 0; l < c.n_layer; ++l) {
      for (int32_t h = 0; h < nkv; ++h) c.read_row(l, 0, h, t, k.data() + static_cast<size_t>(h) * hd);
      model.rerotate_keys(k.data(), 1, start - c.pos);
      for (int32_t h = 0; h < nkv; ++h) {
        c.read_row(l, 1, h, t, v.data());
        cache.write_k(blk, l, h, slot, k.data() + static_cast<size_t>(h) * hd);
        cache.write_v(blk, l, h, slot, v.data());
      }
    }
  }
  cache.commit(seq, c.n_tokens);
}

void append_placeholders(KvCache& cache, SeqId seq, int32_t n) {
  if (n <= 0) return;
  const KvCacheConfig& cfg = cache.config();
  const int32_t start = cache.seq_len(seq);
  cache.reserve(seq, n);
  const std::vector<float> zero(cfg.head_dim, 0.0f);
  for (int32_t pos = start; pos < start + n; ++pos)
    for (int32_t l = 0; l < cfg.n_layer; ++l)
      for (int32_t h = 0; h < cfg.n_head_kv; ++h) {
        cache.write_k(cache.block_of(seq, pos), l, h, pos % cfg.block_size, zero.data());
        cache.write_v(cache.block_of(seq, pos), l, h, pos % cfg.block_size, zero.data());
      }
  cache.commit(seq, n);
}

}  // namespace edgerag
