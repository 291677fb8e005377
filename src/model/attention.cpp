#include "model/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <type_traits>

#include "model/attention_kernels.h"
#include "tensor/fp16.h"
#include "util/error.h"

namespace edgerag {
namespace attn {
namespace {

void scalar_transpose(const float* k, int32_t n, int32_t hd, float* kt) {
  for (int32_t d = 0; d < hd; ++d) {
    float* row = kt + d * kKeyTile;
    for (int32_t j = 0; j < n; ++j) row[j] = k[static_cast<size_t>(j) * hd + d];
    std::fill(row + n, row + kKeyTile, 0.0f);
  }
}

float widen(float x) { return x; }
float widen(uint16_t h) { return fp16_to_fp32(h); }

template <typename T>
void scalar_scores(const float* q, int32_t rows, int32_t hd, const T* const* kts, int32_t tiles, const int32_t* lim,
                   float* m, float* l, float* p, float* f) {
  for (int32_t t = 0; t < tiles; ++t, lim += rows, p += rows * kKeyTile, f += rows) {
    const T* kt = kts[t];
    for (int32_t r = 0; r < rows; ++r) {
      float* pr = p + r * kKeyTile;
      float mx = m[r];
      for (int32_t j = 0; j < kKeyTile; ++j) {
        float s = 0;
        for (int32_t d = 0; d < hd; ++d) s += q[static_cast<size_t>(r) * hd + d] * widen(kt[d * kKeyTile + j]);
        pr[j] = j < lim[r] ? s : -INFINITY;
        mx = std::fmax(mx, pr[j]);
      }
      if (mx == -INFINITY) {  // nothing seen yet and every key masked
        f[r] = 1.0f;
        std::fill(pr, pr + kKeyTile, 0.0f);
        continue;
      }
      f[r] = std::exp(m[r] - mx);
      m[r] = mx;
      float sum = 0;
      for (int32_t j = 0; j < kKeyTile; ++j) sum += pr[j] = std::exp(pr[j] - mx);
      l[r] = l[r] * f[r] + sum;
    }
  }
}

template <typename T>
void scalar_accumulate(const float* p, const float* f, int32_t rows, int32_t hd, const T* const* v, const int32_t* n,
                       int32_t tiles, float* o) {
  for (int32_t t = 0; t < tiles; ++t, p += rows * kKeyTile, f += rows) {
    for (int32_t r = 0; r < rows; ++r) {
      float* orow = o + static_cast<size_t>(r) * hd;
      for (int32_t d = 0; d < hd; ++d) orow[d] *= f[r];
      for (int32_t j = 0; j < n[t]; ++j)
        for (int32_t d = 0; d < hd; ++d) orow[d] += p[r * kKeyTile + j] * widen(v[t][static_cast<size_t>(j) * hd + d]);
    }
  }
}

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels k{scalar_transpose,
                         {scalar_scores<float>, scalar_accumulate<float>},
                         {scalar_scores<uint16_t>, scalar_accumulate<uint16_t>}};
  return k;
}

const Kernels& kernels_for(Isa isa, int32_t head_dim) {
  if (head_dim % 8 != 0 || isa == Isa::Scalar) return scalar_kernels();
  return isa == Isa::Avx512 ? avx512_kernels() : avx2_kernels();
}

}  // namespace attn

namespace {

using attn::kKeyTile;

// Batch tokens of one sequence at consecutive positions inside one cache block.
struct QueryTile {
  SeqId seq = 0;
  int32_t pos0 = 0;   // position of the first token
  int32_t n_tok = 0;
  int32_t first = 0;  // its batch indices are tokens[first, first + n_tok)
};

struct Tiling {
  std::vector<int32_t> tokens;  // batch indices, grouped by tile
  std::vector<QueryTile> tiles;  // longest contexts first (they take longest)
};

Tiling tile_batch(const Batch& batch, int32_t block_size) {
  std::map<SeqId, std::vector<int32_t>> by_seq;  // batch order is position order within a sequence
  for (size_t t = 0; t < batch.size(); ++t) by_seq[batch.tokens[t].seq].push_back(static_cast<int32_t>(t));
  Tiling out;
  for (const auto& [seq, idx] : by_seq) {
    for (size_t i = 0; i < idx.size();) {
      QueryTile tile{seq, batch.tokens[idx[i]].pos, 0, static_cast<int32_t>(out.tokens.size())};
      const int32_t block = tile.pos0 / block_size;
      // Consecutive positions only (a rewrite batch may skip some).
      for (; i < idx.size() && batch.tokens[idx[i]].pos / block_size == block &&
             batch.tokens[idx[i]].pos == tile.pos0 + tile.n_tok;
           ++i, ++tile.n_tok)
        out.tokens.push_back(idx[i]);
      out.tiles.push_back(tile);
    }
  }
  std::stable_sort(out.tiles.begin(), out.tiles.end(),
                   [](const QueryTile& a, const QueryTile& b) { return a.pos0 > b.pos0; });
  return out;
}

// Per-thread working set of one work item; grows to the largest tile seen.
// Key tiles go to the kernels kMaxKeyTiles at a time, so K/V decoded from
// that many blocks may be pending: kbuf and vbuf hold one block per tile
// (only for caches the kernels cannot read in place).
struct Scratch {
  std::vector<float> q, o, m, l, p, f, kt, kbuf, vbuf;
  std::vector<int32_t> lim;
  void fit(int32_t rows, int32_t hd, int32_t block_size, bool decoded) {
    constexpr size_t kt_n = attn::kMaxKeyTiles;
    const size_t rh = static_cast<size_t>(rows) * hd, bh = static_cast<size_t>(block_size) * hd;
    if (q.size() < rh) q.resize(rh), o.resize(rh);
    if (m.size() < static_cast<size_t>(rows)) {
      m.resize(rows), l.resize(rows);
      f.resize(kt_n * rows), lim.resize(kt_n * rows);
      p.resize(kt_n * rows * kKeyTile);
    }
    if (!decoded) return;
    if (kt.size() < kt_n * hd * kKeyTile) kt.resize(kt_n * hd * kKeyTile);
    if (kbuf.size() < kt_n * bh) kbuf.resize(kt_n * bh), vbuf.resize(kt_n * bh);
  }
};

// Blocks of K/V requested ahead of use (2 to 8 measured alike; docs/PERFORMANCE.md).
constexpr int32_t kPrefetchBlocks = 4;

// Online softmax state of one work item's rows after key blocks [b0, b1) of
// the tile's sequence: o [rows][hd] unnormalized, m and l per row. Keys and
// values of element type T are read in place from a cache with tiled keys;
// otherwise (T = float) they are decoded and the keys transposed here.
template <typename T>
void attend_tile(const KvCache& cache, const attn::Kernels& kern, const Tiling& tiling, const QueryTile& tile,
                 const float* q, int64_t q_stride, int32_t layer, int32_t kv_head, int32_t group, float scale,
                 int32_t b0, int32_t b1, Scratch& s) {
  const attn::TileKernels<T>& tk = [&]() -> const attn::TileKernels<T>& {
    if constexpr (std::is_same_v<T, float>) return kern.f32;
    else return kern.f16;
  }();
  const bool in_place = cache.tiled_keys();
  const int32_t bs = cache.block_size(), hd = cache.config().head_dim, rows = tile.n_tok * group;
  s.fit(rows, hd, bs, !in_place);
  for (int32_t i = 0; i < tile.n_tok; ++i) {
    const float* src = q + tiling.tokens[tile.first + i] * q_stride + static_cast<int64_t>(kv_head) * group * hd;
    float* dst = s.q.data() + static_cast<size_t>(i) * group * hd;
    for (int32_t k = 0; k < group * hd; ++k) dst[k] = src[k] * scale;
  }
  std::fill_n(s.o.data(), static_cast<size_t>(rows) * hd, 0.0f);
  std::fill_n(s.m.data(), rows, -INFINITY);
  std::fill_n(s.l.data(), rows, 0.0f);
  const auto& blocks = cache.block_table(tile.seq);
  const int32_t n_keys = tile.pos0 + tile.n_tok, qb = tile.pos0 / bs;
  // Pending key tiles: keys, values and counts here, masks in s.lim.
  const T* kt_of[attn::kMaxKeyTiles];
  const T* v_of[attn::kMaxKeyTiles];
  int32_t n_of[attn::kMaxKeyTiles], pending = 0;
  auto flush = [&] {
    tk.scores(s.q.data(), rows, hd, kt_of, pending, s.lim.data(), s.m.data(), s.l.data(), s.p.data(), s.f.data());
    tk.accumulate(s.p.data(), s.f.data(), rows, hd, v_of, n_of, pending, s.o.data());
    pending = 0;
  };
  // The blocks of a sequence lie anywhere in the pool, so the hardware
  // prefetchers stop at each one's edge: ask for K/V a few blocks ahead.
  for (int32_t b = b0; b < std::min(b0 + kPrefetchBlocks, b1); ++b) cache.prefetch(blocks[b], layer, kv_head);
  for (int32_t b = b0; b < b1; ++b) {
    if (b + kPrefetchBlocks < b1) cache.prefetch(blocks[b + kPrefetchBlocks], layer, kv_head);
    const int32_t nb = b == qb ? n_keys - b * bs : bs;
    const T *k = nullptr, *v = nullptr;
    if (in_place) {
      k = static_cast<const T*>(cache.k_tiles(blocks[b], layer, kv_head));
      v = static_cast<const T*>(cache.v_rows(blocks[b], layer, kv_head));
    } else if constexpr (std::is_same_v<T, float>) {
      // A block's decoded rows stay valid while its tiles are pending: tiles
      // pending from earlier blocks come from the last kMaxKeyTiles - 1 blocks.
      const size_t buf = static_cast<size_t>(b % attn::kMaxKeyTiles) * bs * hd;
      k = cache.k_tile(blocks[b], layer, kv_head, nb, s.kbuf.data() + buf, b == qb);
      v = cache.v_tile(blocks[b], layer, kv_head, nb, s.vbuf.data() + buf);
    }
    for (int32_t j0 = 0; j0 < nb; j0 += kKeyTile) {
      const int32_t n = std::min(kKeyTile, nb - j0);
      // Key tile j0 / kKeyTile of a tiled block starts at element j0 * hd, as its values do.
      if (in_place) {
        kt_of[pending] = k + static_cast<size_t>(j0) * hd;
      } else if constexpr (std::is_same_v<T, float>) {
        float* kt = s.kt.data() + static_cast<size_t>(pending) * hd * kKeyTile;
        kern.transpose(k + static_cast<size_t>(j0) * hd, n, hd, kt);
        kt_of[pending] = kt;
      }
      int32_t* lim = s.lim.data() + static_cast<size_t>(pending) * rows;
      for (int32_t i = 0; i < tile.n_tok; ++i) {
        // Causal: in the query's own block, keys up to its own slot.
        const int32_t li = b == qb ? std::clamp(tile.pos0 + i - b * bs + 1 - j0, 0, n) : n;
        std::fill_n(lim + static_cast<size_t>(i) * group, group, li);
      }
      v_of[pending] = v + static_cast<size_t>(j0) * hd;
      n_of[pending] = n;
      if (++pending == attn::kMaxKeyTiles) flush();
    }
  }
  if (pending > 0) flush();
}

Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

// A split one-token tile's key ranges have at least this many blocks.
constexpr int32_t kMinBlocksPerSplit = 8;

}  // namespace

void attention(const KvCache& cache, const Batch& batch, int32_t layer, const float* q, int32_t n_head, float scale,
               float* out, ThreadPool* pool) {
  const KvCacheConfig& kc = cache.config();
  const int32_t nkv = kc.n_head_kv, hd = kc.head_dim, bs = kc.block_size;
  EDGERAG_CHECK(n_head > 0 && n_head % nkv == 0, "attention: {} query heads for {} KV heads", n_head, nkv);
  const int32_t group = n_head / nkv;
  const int64_t stride = static_cast<int64_t>(n_head) * hd;
  const attn::Kernels& kern = attn::kernels_for(active_isa(), hd);
  const Tiling tiling = tile_batch(batch, bs);
  const bool f16_in_place = cache.tiled_keys() && kc.type.row == DType::F16;
  const int n_threads = pool ? pool->size() : 1;
  const size_t pairs = tiling.tiles.size() * nkv;
  // A one-token tile (a decode step) has too little work to keep threads busy
  // with KV heads alone: its key blocks are split into up to `splits` ranges.
  // The choice depends only on the tile and the thread count, so a sequence
  // gets the same result whatever else shares its batch.
  const int32_t splits = std::max(1, (n_threads + nkv - 1) / nkv);
  auto splits_of = [&](const QueryTile& t) {
    return t.n_tok == 1 ? std::clamp((t.pos0 / bs + 1) / kMinBlocksPerSplit, 1, splits) : 1;
  };
  // Partial results of split tiles: per (tile, KV head, range) o [group][hd], then m, l [group].
  const size_t part_floats = static_cast<size_t>(group) * (hd + 2);
  std::vector<size_t> part_of(tiling.tiles.size(), 0);  // first partial of the tile's ranges
  size_t n_parts = 0;
  for (size_t ti = 0; ti < tiling.tiles.size(); ++ti)
    if (splits_of(tiling.tiles[ti]) > 1) part_of[ti] = n_parts, n_parts += static_cast<size_t>(nkv) * splits;
  std::vector<float> parts(n_parts * part_floats);

  const size_t items = pairs * splits;
  std::atomic<size_t> next{0};
  auto work = [&](int) {
    Scratch& s = thread_scratch();
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < items;) {
      const size_t ti = i / (nkv * splits);
      const QueryTile& tile = tiling.tiles[ti];
      const int32_t kvh = static_cast<int32_t>(i / splits % nkv), split = static_cast<int32_t>(i % splits);
      const int32_t n_split = splits_of(tile);
      if (split >= n_split) continue;
      const int32_t nb = tile.pos0 / bs + 1, rows = tile.n_tok * group;
      const int32_t from = nb * split / n_split, to = nb * (split + 1) / n_split;
      if (f16_in_place)
        attend_tile<uint16_t>(cache, kern, tiling, tile, q, stride, layer, kvh, group, scale, from, to, s);
      else
        attend_tile<float>(cache, kern, tiling, tile, q, stride, layer, kvh, group, scale, from, to, s);
      if (n_split > 1) {
        float* part = parts.data() + (part_of[ti] + static_cast<size_t>(kvh) * splits + split) * part_floats;
        std::copy_n(s.o.data(), static_cast<size_t>(rows) * hd, part);
        std::copy_n(s.m.data(), rows, part + static_cast<size_t>(group) * hd);
        std::copy_n(s.l.data(), rows, part + static_cast<size_t>(group) * (hd + 1));
        continue;
      }
      for (int32_t r = 0; r < rows; ++r) {
        const int32_t t = tiling.tokens[tile.first + r / group];
        float* dst = out + t * stride + static_cast<int64_t>(kvh * group + r % group) * hd;
        const float inv = 1.0f / s.l[r];
        for (int32_t d = 0; d < hd; ++d) dst[d] = s.o[static_cast<size_t>(r) * hd + d] * inv;
      }
    }
  };
  if (pool && items > 1) pool->run_all(work);
  else work(0);
  // Log-sum-exp merge of the key ranges: rescale each to the overall maximum.
  for (size_t ti = 0; ti < tiling.tiles.size(); ++ti) {
    const int32_t n_split = splits_of(tiling.tiles[ti]);
    if (n_split == 1) continue;
    const int32_t t = tiling.tokens[tiling.tiles[ti].first];
    for (int32_t kvh = 0; kvh < nkv; ++kvh) {
      const float* first = parts.data() + (part_of[ti] + static_cast<size_t>(kvh) * splits) * part_floats;
      for (int32_t r = 0; r < group; ++r) {
        const size_t m_at = static_cast<size_t>(group) * hd + r, l_at = static_cast<size_t>(group) * (hd + 1) + r;
        float mx = -INFINITY;
        for (int32_t sp = 0; sp < n_split; ++sp) mx = std::fmax(mx, first[sp * part_floats + m_at]);
        float* dst = out + t * stride + static_cast<int64_t>(kvh * group + r) * hd;
        std::fill_n(dst, hd, 0.0f);
        float sum = 0;
        for (int32_t sp = 0; sp < n_split; ++sp) {
          const float* part = first + sp * part_floats;
          const float w = std::exp(part[m_at] - mx);
          sum += w * part[l_at];
          for (int32_t d = 0; d < hd; ++d) dst[d] += w * part[static_cast<size_t>(r) * hd + d];
        }
        for (int32_t d = 0; d < hd; ++d) dst[d] /= sum;
      }
    }
  }
}

std::vector<float> attention_weights(const KvCache& cache, std::span<const int32_t> blocks, int32_t layer,
                                     int32_t kv_head, const float* q, int32_t n_keys, float scale) {
  const int32_t bs = cache.block_size(), hd = cache.config().head_dim;
  std::vector<double> s(n_keys);
  std::vector<float> buf(static_cast<size_t>(bs) * hd);
  double mx = -INFINITY;
  for (int32_t start = 0, bi = 0; start < n_keys; start += bs, ++bi) {
    const int32_t n = std::min(bs, n_keys - start);
    const float* k = cache.k_tile(blocks[bi], layer, kv_head, n, buf.data(), start + n == n_keys);
    for (int32_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int32_t d = 0; d < hd; ++d) dot += static_cast<double>(q[d]) * k[static_cast<size_t>(j) * hd + d];
      s[start + j] = dot * scale;
      mx = std::max(mx, s[start + j]);
    }
  }
  double sum = 0;
  for (double& x : s) sum += x = std::exp(x - mx);
  std::vector<float> w(n_keys);
  for (int32_t j = 0; j < n_keys; ++j) w[j] = static_cast<float>(s[j] / sum);
  return w;
}

void attention_reference(const KvCache& cache, const Batch& batch, int32_t layer, const float* q, int32_t n_head,
                         float scale, float* out) {
  const int32_t bs = cache.block_size(), hd = cache.config().head_dim, group = n_head / cache.config().n_head_kv;
  const int64_t stride = static_cast<int64_t>(n_head) * hd;
  std::vector<float> buf(static_cast<size_t>(bs) * hd);
  std::vector<double> acc(hd);
  for (size_t t = 0; t < batch.size(); ++t) {
    const BatchToken& tok = batch.tokens[t];
    const auto& blocks = cache.block_table(tok.seq);
    for (int32_t h = 0; h < n_head; ++h) {
      const std::vector<float> w =
          attention_weights(cache, blocks, layer, h / group, q + t * stride + h * hd, tok.pos + 1, scale);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int32_t start = 0, bi = 0; start <= tok.pos; start += bs, ++bi) {
        const int32_t n = std::min(bs, tok.pos + 1 - start);
        const float* v = cache.v_tile(blocks[bi], layer, h / group, n, buf.data());
        for (int32_t j = 0; j < n; ++j)
          for (int32_t d = 0; d < hd; ++d) acc[d] += static_cast<double>(w[start + j]) * v[static_cast<size_t>(j) * hd + d];
      }
      for (int32_t d = 0; d < hd; ++d) out[t * stride + h * hd + d] = static_cast<float>(acc[d]);
    }
  }
}

}  // namespace edgerag
