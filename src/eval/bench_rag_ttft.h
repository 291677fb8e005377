// `edgerag bench rag-ttft`: time to first token of RAG prompts (retrieved
// chunks from an index) with a chunk KV reuse mode, against a full prefill of
// the same prompt: per query and in total, TTFT, prompt / reused / recomputed
// tokens, max |logit diff| and KL divergence at the first answer position, and
// whether the greedy answer is identical. Every mode keeps the prompt's
// template prefix (what precedes the first chunk) cached as the scheduler's
// prefix cache does; chunk modes first run the queries once to fill the store
// (reported as the cold pass) unless told not to.
#pragma once
#include <string>
#include <vector>

#include "model/kv_cache.h"
#include "runtime/chunk_kv_store.h"
#include "runtime/chunk_prefill.h"

namespace edgerag {

struct RagTtftOptions {
  std::string index_dir, model, queries_file;
  KvReuseOptions reuse;
  KvType kv_type = default_kv_type();
  int n_threads = 0;      // 0: default_thread_count()
  int max_chunks = 8;
  int max_prompt_tokens = 3000;
  int limit = 0;          // first N queries (0: all)
  int answer_tokens = 16; // greedy tokens compared with the full prefill's
  bool warm = true;       // chunk modes: fill the store with a first pass
  ChunkKvStoreOptions store;  // optionally a directory of chunk files (e.g. filled by ingest --kv-model)
};

struct RagTtftRow {
  std::string id;
  double ttft_ms = 0, ttft_cold_ms = 0, full_ttft_ms = 0;
  int prompt_tokens = 0, chunks = 0;
  ChunkPrefillStats reuse;  // of the timed pass
  double max_logit_diff = 0, kl = 0;
  bool identical = false;
};

struct RagTtftResult {
  std::vector<RagTtftRow> queries;
  double ttft_ms_mean = 0, ttft_cold_ms_mean = 0, full_ttft_ms_mean = 0, identical_rate = 0;
  double max_logit_diff = 0, kl_mean = 0;
  ChunkPrefillStats reuse;  // timed pass, all queries
  int prompt_tokens = 0;
};

RagTtftResult bench_rag_ttft(const RagTtftOptions& opts);

// KL(p || q) of the softmax distributions of two logit rows.
double kl_divergence(const float* p_logits, const float* q_logits, int n);

}  // namespace edgerag
