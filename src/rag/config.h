// Settings of the question-answering pipeline (retrieval depths, rerank policy,
// prompt and answer budgets, generation). One struct, filled from defaults, then
// a TOML file, then overrides (CLI flags or a server request's JSON body).
//
// TOML layout (every key optional; unknown keys are errors so typos surface):
//   [retrieval]  bm25_depth, dense_depth, rrf_k, hybrid (bool), rerank ("on"|"off"|"auto"),
//                rerank_top, rerank_skip_agreement, ef_search, rescore_depth
//   [prompt]     max_chunks, max_tokens, system, kv_reuse ("prefix"|"chunks-exact"|"chunks"),
//                recompute_share, recompute_first (chunk KV reuse, runtime/chunk_prefill.h)
//   [generation] max_tokens, temperature, top_p, seed
//   [extractive] sentences
//   [adaptive]   hyde ("off"|"on"|"auto"), hyde_threshold, hyde_max_tokens, hyde_question_weight,
//                route ("off"|"auto"|"small"|"large"), route_threshold, context ("fixed"|"auto"),
//                easy_chunks, context_threshold, min_confidence, cache (bool), cache_similarity, watts
//   [index]      hnsw_m, ef_construction, exact_below, vectors ("f32"|"int8"): read by ingest
//                when it creates an index; an explicit ingest flag wins over the file, and an
//                existing index keeps the values recorded when it was created
// The JSON form uses the same sections and keys.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "runtime/chunk_prefill.h"

namespace edgerag::rag {

// "auto" reranks only when first-stage retrieval is unsure: in hybrid mode it is
// skipped when the BM25 and dense top-10 share at least `rerank_skip_agreement`
// of their chunks (the retrievers agree). With no reranker loaded it is "off".
enum class RerankMode { Off, On, Auto };
RerankMode parse_rerank_mode(std::string_view s);  // "on" | "off" | "auto" (also "conditional")
const char* rerank_mode_name(RerankMode m);

// The query-adaptive stages (rag/adaptive.h): each runs, or is skipped, per
// question from the difficulty estimate of rag/query_signals.h.
enum class StageMode { Off, On, Auto };
StageMode parse_stage_mode(std::string_view s, std::string_view setting);  // "off" | "on" | "auto"
const char* stage_mode_name(StageMode m);

struct AdaptiveConfig {
  // HyDE: the LLM writes a short hypothetical answer passage, whose embedding
  // is searched as a third fused list. "auto": when difficulty >= hyde_threshold.
  StageMode hyde = StageMode::Off;
  double hyde_threshold = 0.5;
  int hyde_max_tokens = 64;
  double hyde_question_weight = 0;  // 0: the passage's embedding alone; up to 1: mixed with the question's
  // Model routing between a small and a large LLM: "auto" sends questions with
  // difficulty < route_threshold to the small one; "small"/"large" force one.
  std::string route = "auto";
  double route_threshold = 0.35;
  // "auto": easy questions (difficulty < context_threshold) get easy_chunks
  // chunks (0: two thirds of prompt.max_chunks) instead of prompt.max_chunks.
  StageMode context = StageMode::Off;  // Off = "fixed"
  int easy_chunks = 0;
  double context_threshold = 0.35;
  // Below this answer confidence (rag/confidence.h), abstain: "the context does
  // not contain the answer". 0: never.
  double min_confidence = 0;
  // Answer cache (rag/answer_cache.h), opt-in per request; near-duplicates by
  // embedding cosine >= cache_similarity (0: exact normalized text only).
  bool cache = false;
  double cache_similarity = 0;
  // Package power for the energy figure of each decision (E = 0.7 * watts * t,
  // the TDP estimate of eval/energy.h; `eval adaptive` reads RAPL when it can).
  double watts = 15;
};

// Dense index settings fixed when an index is created (rag/index.h IndexOptions).
struct IndexConfig {
  int hnsw_m = 16;            // HNSW links per node (memory and recall against build time)
  int ef_construction = 200;  // HNSW build breadth
  int exact_below = 20000;    // exact dense search below this many vectors
  std::string vectors = "f32";  // HNSW points: "f32" or "int8" (re-scored in float)
};

struct AnswerConfig {
  // Retrieval.
  int bm25_depth = 50;   // lexical candidates before fusion
  int dense_depth = 50;  // vector candidates before fusion (when an embedder is present)
  int rrf_k = 60;        // reciprocal-rank-fusion constant
  bool hybrid = true;    // false: BM25 only even with an embedder
  RerankMode rerank = RerankMode::Auto;
  int rerank_top = 20;   // fused candidates the cross-encoder rescores
  double rerank_skip_agreement = 0.8;  // "auto" only
  int ef_search = 512;   // HNSW search breadth (recall against speed of dense search; rag::SearchOptions)
  int rescore_depth = 64; // int8 graphs: candidates re-scored with float vectors (0: all ef_search)
  // Prompt.
  int max_chunks = 8;
  int max_prompt_tokens = 3000;
  std::string system_prompt = default_system_prompt();
  // Generation.
  int max_answer_tokens = 256;
  float temperature = 0.0f;  // 0: greedy
  float top_p = 1.0f;
  uint64_t seed = 42;
  // Extractive mode (no LLM): supporting sentences in the answer.
  int extract_sentences = 3;
  AdaptiveConfig adaptive;
  // Chunk KV reuse of the generative prompt (runtime/chunk_prefill.h).
  KvReuseOptions kv_reuse;
  IndexConfig index;

  static std::string default_system_prompt();
  // Throws edgerag::Error naming the offending setting.
  void validate() const;
};

// Parses TOML text onto `cfg` (keys present override). `source` names the text in errors.
void apply_toml(AnswerConfig& cfg, std::string_view toml_text, const std::string& source = "config");
// Reads a TOML file onto defaults; throws with file, line and column on bad TOML.
AnswerConfig load_answer_config(const std::string& path);
// Same keys as TOML, as JSON (e.g. a server request's "config" object).
void apply_json(AnswerConfig& cfg, const nlohmann::json& j);
nlohmann::json to_json(const AnswerConfig& cfg);

}  // namespace edgerag::rag
