// Fills a chunk KV store at ingest (edgerag ingest --kv-model): for each chunk
// of a collection, the KV that chunk prefill (runtime/chunk_prefill.h) computes
// and stores on a miss, under the same key, so that the first question
// retrieving the chunk already finds it. The prompt is assembled as `ask`
// assembles it (chat format, system prompt, the chunk as block [1]) with the
// chunk as an isolated part, so the key does not depend on the question:
//  - chunks: the chunk's KV right after the prefix every prompt shares
//    (chunk_context_end): serves the chunk in any place of any prompt.
//  - chunks-exact: the chunk's KV as block [1] after that prefix and its source
//    line: serves it only when it is retrieved first (a later block's KV
//    depends on the chunks before it, which ingest cannot know).
// Bounded by the store's disk budget: the pass stops when the next file would
// evict one; chunks already stored are not recomputed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model.h"
#include "rag/config.h"
#include "rag/index.h"
#include "runtime/chunk_kv_store.h"
#include "util/thread_pool.h"

namespace edgerag::rag {

struct ChunkKvFillOptions {
  std::vector<KvReuse> modes = {KvReuse::Chunks, KvReuse::ChunksExact};
  KvType kv_type = default_kv_type();  // the KV cache type of the server or ask that will read the store
  int32_t n_ctx = 0;            // as ask's --ctx: 0 = the model's training context, at most 4096
};

struct ChunkKvFillReport {
  size_t chunks = 0;         // chunks of the collection looked at
  size_t stored = 0;         // entries computed and written
  size_t present = 0;        // entries already in the store
  size_t unplaceable = 0;    // chunks reuse never places (under 4 tokens, or over the prompt budget alone)
  size_t over_budget = 0;    // chunks left when the disk budget was full (the one that did not fit included)
  int64_t tokens = 0;        // tokens computed
  double seconds = 0;
};

using ChunkKvFillProgress = std::function<void(const ChunkKvFillReport& so_far, size_t total)>;

// `cfg` is the answer config `ask` or the server will use (system prompt,
// prompt and answer budgets). The store must have a directory.
ChunkKvFillReport fill_chunk_kv(Index& index, const std::string& collection, const Model& model, ThreadPool& pool,
                                ChunkKvStore& store, const AnswerConfig& cfg, const ChunkKvFillOptions& opt,
                                const ChunkKvFillProgress& progress = {});

}  // namespace edgerag::rag
