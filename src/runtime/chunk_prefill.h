// Prompt prefill that places cached chunk KV (runtime/chunk_kv_store.h) instead
// of computing it. A RAG prompt is [prefix: template + system] [chunk 1] [gap]
// [chunk 2] ... [tail: question + template]; the caller names the chunks' token
// spans. Modes:
//  - prefix: every token computed (the prefix cache still shares exact prefixes).
//  - chunks-exact: a chunk is reused only under the same whole preceding prompt
//    (keyed by it), placed where it was computed: identical to a full prefill for
//    F32/F16 caches, a lower hit rate.
//  - chunks: a chunk's KV is computed once right after the prefix (keyed by the
//    prefix and the chunk, whatever comes before it in a prompt) and placed at its
//    position by re-rotating its keys. The first chunk is then exact; the others
//    lack attention to the chunks before them. As in CacheBlend (Yao et al. 2024)
//    that is recovered by recomputing in context a share of the chunk tokens: the
//    first tokens of each chunk and those whose layer-1 values deviate most
//    between the cached KV and the KV in context (found by a two-layer pass over
//    the placed tokens). Gap and tail tokens are always computed.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "runtime/chunk_kv_store.h"
#include "util/thread_pool.h"

namespace edgerag {

enum class KvReuse { Prefix, ChunksExact, Chunks };
KvReuse kv_reuse_from_name(std::string_view name);  // "prefix" | "chunks-exact" | "chunks"; Error otherwise
const char* kv_reuse_name(KvReuse mode);

struct KvReuseOptions {
  KvReuse mode = KvReuse::Prefix;
  // chunks: share of the placed chunks' tokens recomputed in context (0.05: the stories260K curve is flat
  // from 0 to 0.3, docs/PERFORMANCE.md, and the recompute batch is most of the time to first token)
  double recompute_share = 0.05;
  int32_t recompute_first = 2;    // chunks: leading tokens of each placed chunk always recomputed
  // chunks, per prompt: end of the prompt prefix every prompt shares (template
  // and system prompt), which chunks are computed after and keyed by; what
  // lies between it and the first chunk (e.g. the chunk's source line) is not
  // part of the key. -1: the first chunk's start.
  int32_t context_end = -1;
};
// Throws edgerag::Error for a share outside [0, 1] or a negative count.
void check_kv_reuse(const KvReuseOptions& opt);

struct ChunkSpan {
  int32_t begin = 0, end = 0;  // prompt token range [begin, end)
};

// Throws edgerag::Error unless the spans are increasing, disjoint and inside a prompt of n tokens.
void check_chunk_spans(std::span<const ChunkSpan> chunks, int64_t n);

struct ChunkPrefillStats {
  int64_t chunk_hits = 0, chunk_misses = 0;
  int64_t reused_tokens = 0;      // chunk tokens whose KV came from the store and was kept
  int64_t recomputed_tokens = 0;  // chunk tokens recomputed in context
  int64_t computed_tokens = 0;    // tokens prefilled normally (prefix, gaps, tail, chunks computed for the store)
  // chunks mode, wall time of its phases: store lookups and computing the
  // misses, placing (copy + re-rotation), the deviation pass, the recompute batch.
  double store_ms = 0, place_ms = 0, select_ms = 0, recompute_ms = 0;
  ChunkPrefillStats& operator+=(const ChunkPrefillStats& o);
};

// Identifies a model in store keys: file name and size.
std::string chunk_model_id(const Model& model);

struct ChunkPrefiller {
  const Model& model;
  ChunkKvStore& store;
  std::string model_id;
  ThreadPool* pool = nullptr;

  // Prefills prompt[cache.seq_len(seq), size) into `seq` (which may already hold
  // a shared prefix of the prompt) and returns the logits of the last prompt
  // token (one row). Chunks computed for the store use scratch sequences of at
  // most `spare_blocks` cache blocks (beyond that they are computed in context,
  // uncached). Spans must be increasing and disjoint; spans overlapping what the
  // sequence holds or the prompt's last token are computed normally.
  Logits prefill(KvCache& cache, SeqId seq, std::span<const int32_t> prompt, std::span<const ChunkSpan> chunks,
                 const KvReuseOptions& opt, int32_t spare_blocks, ChunkPrefillStats* stats = nullptr) const;

 private:
  Logits exact(KvCache& cache, SeqId seq, std::span<const int32_t> prompt, std::span<const ChunkSpan> spans,
               ChunkPrefillStats& st) const;
  Logits blend(KvCache& cache, SeqId seq, std::span<const int32_t> prompt, std::span<const ChunkSpan> spans,
               const KvReuseOptions& opt, int32_t spare_blocks, ChunkPrefillStats& st) const;
  Logits forward_range(KvCache& cache, SeqId seq, std::span<const int32_t> prompt, int32_t from, int32_t to,
                       bool logits) const;
};

}  // namespace edgerag
