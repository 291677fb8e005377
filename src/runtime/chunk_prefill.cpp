#include "runtime/chunk_prefill.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "model/chunk_kv.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {

KvReuse kv_reuse_from_name(std::string_view name) {
  if (name == "prefix") return KvReuse::Prefix;
  if (name == "chunks-exact") return KvReuse::ChunksExact;
  if (name == "chunks") return KvReuse::Chunks;
  fail("unknown KV reuse mode '{}' (prefix, chunks-exact, chunks)", name);
}

const char* kv_reuse_name(KvReuse mode) {
  switch (mode) {
    case KvReuse::Prefix: return "prefix";
    case KvReuse::ChunksExact: return "chunks-exact";
    case KvReuse::Chunks: return "chunks";
  }
  return "prefix";
}

void check_kv_reuse(const KvReuseOptions& opt) {
  EDGERAG_CHECK(opt.recompute_share >= 0 && opt.recompute_share <= 1,
                "KV reuse: recompute share must be in [0, 1] (got {})", opt.recompute_share);
  EDGERAG_CHECK(opt.recompute_first >= 0, "KV reuse: negative count of recomputed leading tokens {}",
                opt.recompute_first);
}

void check_chunk_spans(std::span<const ChunkSpan> chunks, int64_t n) {
  int64_t last = 0;
  for (const ChunkSpan& c : chunks) {
    EDGERAG_CHECK(c.begin >= last && c.end >= c.begin && c.end <= n,
                  "chunk spans must be increasing and disjoint within the prompt of {} tokens ([{}, {}))", n, c.begin,
                  c.end);
    last = c.end;
  }
}

ChunkPrefillStats& ChunkPrefillStats::operator+=(const ChunkPrefillStats& o) {
  chunk_hits += o.chunk_hits, chunk_misses += o.chunk_misses, reused_tokens += o.reused_tokens;
  recomputed_tokens += o.recomputed_tokens, computed_tokens += o.computed_tokens;
  store_ms += o.store_ms, place_ms += o.place_ms, select_ms += o.select_ms, recompute_ms += o.recompute_ms;
  return *this;
}

std::string chunk_model_id(const Model& model) {
  return std::filesystem::path(model.gguf().path()).filename().string() + ":" + std::to_string(model.gguf().file_size());
}

namespace {

// An id no sequence of the cache uses (scratch sequences).
SeqId free_seq_id(const KvCache& cache, SeqId from) {
  while (cache.has_sequence(from)) ++from;
  return from;
}

// Sum over KV heads of the squared difference between the layer's values of
// cached positions [from, from + n) and a chunk's stored values.
std::vector<double> value_deviation(const KvCache& cache, SeqId seq, int32_t layer, int32_t from, const ChunkKv& c) {
  const KvCacheConfig& cfg = cache.config();
  const int32_t bs = cfg.block_size, hd = cfg.head_dim;
  std::vector<double> dev(c.n_tokens, 0.0);
  std::vector<float> buf(static_cast<size_t>(bs) * hd), row(hd);
  const auto& table = cache.block_table(seq);
  for (int32_t h = 0; h < cfg.n_head_kv; ++h)
    for (int32_t t = 0; t < c.n_tokens; ++t) {
      const int32_t pos = from + t, b = pos / bs;
      if (t == 0 || pos % bs == 0) cache.v_tile(table[b], layer, h, std::min(bs, cache.seq_len(seq) - b * bs), buf.data());
      c.read_row(layer, 1, h, t, row.data());
      const float* v = buf.data() + static_cast<size_t>(pos % bs) * hd;
      for (int32_t i = 0; i < hd; ++i) dev[t] += static_cast<double>(v[i] - row[i]) * (v[i] - row[i]);
    }
  return dev;
}

}  // namespace

Logits ChunkPrefiller::forward_range(KvCache& cache, SeqId seq, std::span<const int32_t> prompt, int32_t from,
                                     int32_t to, bool logits) const {
  Batch b;
  for (int32_t i = from; i < to; ++i) b.add(prompt[i], i, seq, logits && i + 1 == to);
  return model.forward(b, cache, pool);
}

Logits ChunkPrefiller::prefill(KvCache& cache, SeqId seq, std::span<const int32_t> prompt,
                               std::span<const ChunkSpan> chunks, const KvReuseOptions& opt, int32_t spare_blocks,
                               ChunkPrefillStats* stats) const {
  check_kv_reuse(opt);
  // Placement and rewrite batches write the host cache; GPU layers keep their KV on the device.
  EDGERAG_CHECK(model.gpu_layers() == 0, "chunk KV reuse runs on the CPU only: use --kv-reuse prefix with --device {}",
                model.device());
  const int32_t n = static_cast<int32_t>(prompt.size()), start = cache.seq_len(seq);
  EDGERAG_CHECK(start < n, "chunk prefill: sequence {} already holds {} of the prompt's {} tokens", seq, start, n);
  check_chunk_spans(chunks, n);
  std::vector<ChunkSpan> spans;
  for (const ChunkSpan& c : chunks)
    if (c.begin >= start && c.end < n && c.end > c.begin) spans.push_back(c);
  ChunkPrefillStats st;
  Logits out;
  if (opt.mode == KvReuse::Prefix || spans.empty()) {
    st.computed_tokens = n - start;
    out = forward_range(cache, seq, prompt, start, n, true);
  } else if (opt.mode == KvReuse::ChunksExact) {
    out = exact(cache, seq, prompt, spans, st);
  } else {
    out = blend(cache, seq, prompt, spans, opt, spare_blocks, st);
  }
  if (stats) *stats += st;
  return out;
}

Logits ChunkPrefiller::exact(KvCache& cache, SeqId seq, std::span<const int32_t> prompt,
                             std::span<const ChunkSpan> spans, ChunkPrefillStats& st) const {
  const KvType type = cache.config().type;
  int32_t done = cache.seq_len(seq);
  std::vector<std::pair<ChunkSpan, std::string>> computed;  // missed chunks, stored once computed
  auto store_computed = [&] {
    for (const auto& [c, key] : computed)
      store.put(key, std::make_shared<const ChunkKv>(capture_chunk(cache, seq, c.begin, c.end - c.begin)));
    computed.clear();
  };
  for (const ChunkSpan& c : spans) {
    const std::string key = ChunkKvStore::key(model_id, type, prompt.first(c.begin), prompt.subspan(c.begin, c.end - c.begin));
    auto hit = store.find(key);
    if (!hit || hit->pos != c.begin || hit->n_tokens != c.end - c.begin) {
      ++st.chunk_misses;
      computed.emplace_back(c, key);
      continue;
    }
    if (done < c.begin) forward_range(cache, seq, prompt, done, c.begin, false);
    st.computed_tokens += c.begin - done;
    store_computed();
    place_chunk(model, cache, seq, *hit);
    ++st.chunk_hits;
    st.reused_tokens += hit->n_tokens;
    done = c.end;
  }
  const int32_t n = static_cast<int32_t>(prompt.size());
  Logits out = forward_range(cache, seq, prompt, done, n, true);
  st.computed_tokens += n - done;
  store_computed();
  return out;
}

Logits ChunkPrefiller::blend(KvCache& cache, SeqId seq, std::span<const int32_t> prompt,
                             std::span<const ChunkSpan> spans, const KvReuseOptions& opt, int32_t spare_blocks,
                             ChunkPrefillStats& st) const {
  const KvType type = cache.config().type;
  const int32_t n = static_cast<int32_t>(prompt.size()), bs = cache.block_size();
  const int32_t start = cache.seq_len(seq), first = spans.front().begin;
  // Chunks are computed after (and keyed by) the shared prefix [0, p0).
  const int32_t p0 = opt.context_end >= 0 ? std::min(opt.context_end, first) : first;
  if (start < first) forward_range(cache, seq, prompt, start, first, false);
  st.computed_tokens += first - start;

  // Look up every chunk under (prefix, chunk); compute the misses right after
  // the prefix in scratch sequences sharing its blocks, all in one batch.
  Timer phase;
  auto lap = [&phase](double& ms) {
    ms += phase.ms();
    phase.reset();
  };
  const auto context = prompt.first(p0);
  std::vector<std::shared_ptr<const ChunkKv>> kv(spans.size());
  std::vector<std::string> keys(spans.size());
  std::vector<std::pair<size_t, SeqId>> scratch;
  Batch batch;
  const int32_t prefix_blocks = (p0 + bs - 1) / bs;
  const std::vector<int32_t> prefix(cache.block_table(seq).begin(), cache.block_table(seq).begin() + prefix_blocks);
  SeqId next_id = 1 << 30;
  for (size_t i = 0; i < spans.size(); ++i) {
    const int32_t len = spans[i].end - spans[i].begin;
    keys[i] = ChunkKvStore::key(model_id, type, context, prompt.subspan(spans[i].begin, len));
    kv[i] = store.find(keys[i]);
    if (kv[i] && (kv[i]->pos != p0 || kv[i]->n_tokens != len)) kv[i] = nullptr;  // not ours (collision)
    if (kv[i]) {
      ++st.chunk_hits;
      continue;
    }
    ++st.chunk_misses;
    const int32_t need = (p0 + len + bs - 1) / bs - p0 / bs;  // new blocks (incl. a copied partial one)
    if (need > spare_blocks) continue;  // no room: computed in context below, not stored
    spare_blocks -= need;
    const SeqId sid = free_seq_id(cache, next_id);
    next_id = sid + 1;
    cache.attach(sid, prefix, p0);
    scratch.emplace_back(i, sid);
    for (int32_t j = 0; j < len; ++j) batch.add(prompt[spans[i].begin + j], p0 + j, sid, false);
  }
  if (!batch.empty()) {
    try {
      model.forward(batch, cache, pool);
      for (const auto& [i, sid] : scratch) {
        kv[i] = std::make_shared<const ChunkKv>(capture_chunk(cache, sid, p0, spans[i].end - spans[i].begin));
        store.put(keys[i], kv[i]);
        st.computed_tokens += kv[i]->n_tokens;
      }
    } catch (...) {
      for (const auto& [i, sid] : scratch) cache.free_sequence(sid);
      throw;
    }
    for (const auto& [i, sid] : scratch) cache.free_sequence(sid);
  }

  lap(st.store_ms);
  // Place: chunks re-rotated to their positions, zero slots for the rest (gaps
  // and chunks without KV), which the rewrite below computes in context.
  std::vector<int32_t> rewrite;  // positions computed in context
  int32_t pos = first;
  int64_t placed_tokens = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const ChunkSpan& c = spans[i];
    append_placeholders(cache, seq, c.begin - pos);
    for (int32_t p = pos; p < c.begin; ++p) rewrite.push_back(p);
    if (kv[i]) {
      place_chunk(model, cache, seq, *kv[i]);
      if (c.begin != p0) placed_tokens += c.end - c.begin;  // the chunk right after the prefix is exact
    } else {
      append_placeholders(cache, seq, c.end - c.begin);
      for (int32_t p = c.begin; p < c.end; ++p) rewrite.push_back(p);
    }
    pos = c.end;
  }
  const int32_t n_gap = static_cast<int32_t>(rewrite.size());
  lap(st.place_ms);

  // Selective recompute: leading tokens of each placed chunk, then the largest
  // layer-1 value deviations up to the share.
  std::vector<int32_t> selected;
  std::vector<std::pair<double, int32_t>> ranked;  // (deviation, position) of the other placed tokens
  const int64_t target = static_cast<int64_t>(std::ceil(opt.recompute_share * static_cast<double>(placed_tokens)));
  for (size_t i = 0; i < spans.size(); ++i) {
    const ChunkSpan& c = spans[i];
    if (!kv[i] || c.begin == p0) continue;
    const int32_t first = std::min(c.end, c.begin + opt.recompute_first);
    for (int32_t p = c.begin; p < first; ++p) selected.push_back(p);
    for (int32_t p = first; p < c.end; ++p) ranked.emplace_back(0.0, p);
  }
  const int64_t extra = std::max<int64_t>(0, target - static_cast<int64_t>(selected.size()));
  if (extra > 0 && static_cast<int64_t>(ranked.size()) > extra && model.hparams().n_layer >= 2) {
    // Layers 0-1 of every token after the exact first chunk, in context (exact for those layers).
    Batch rw;
    rw.rewrite = true;
    for (int32_t p = first == p0 ? spans.front().end : first; p < pos; ++p) rw.add(prompt[p], p, seq, false);
    ForwardHooks two;
    two.n_layers = 2;
    model.forward(rw, cache, pool, &two);
    size_t r = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
      const ChunkSpan& c = spans[i];
      if (!kv[i] || c.begin == p0) continue;
      const auto dev = value_deviation(cache, seq, 1, c.begin, *kv[i]);
      const int32_t first = std::min(c.end, c.begin + opt.recompute_first);
      for (int32_t p = first; p < c.end; ++p) ranked[r++].first = dev[p - c.begin];
    }
  }
  lap(st.select_ms);
  if (extra > 0) {
    const size_t take = std::min(ranked.size(), static_cast<size_t>(extra));
    std::partial_sort(ranked.begin(), ranked.begin() + take, ranked.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (size_t k = 0; k < take; ++k) selected.push_back(ranked[k].second);
  }
  st.recomputed_tokens += static_cast<int64_t>(selected.size());
  st.reused_tokens += placed_tokens - static_cast<int64_t>(selected.size());
  for (size_t i = 0; i < spans.size(); ++i)
    if (kv[i] && spans[i].begin == p0) st.reused_tokens += spans[i].end - spans[i].begin;
  st.computed_tokens += n_gap;
  rewrite.insert(rewrite.end(), selected.begin(), selected.end());
  std::sort(rewrite.begin(), rewrite.end());
  if (!rewrite.empty()) {
    Batch rw;
    rw.rewrite = true;
    for (int32_t p : rewrite) rw.add(prompt[p], p, seq, false);
    model.forward(rw, cache, pool);
  }
  lap(st.recompute_ms);
  st.computed_tokens += n - pos;
  return forward_range(cache, seq, prompt, pos, n, true);
}

}  // namespace edgerag
