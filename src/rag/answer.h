// Grounded question answering: retrieve (hybrid, or BM25 when no embedder),
// optionally rerank, assemble a prompt under a token budget, generate with the
// LLM's chat template, and check the answer's [n] citations against the chunks
// supplied. Without an LLM the extractive mode answers with the best supporting
// sentences of the retrieved chunks and cites them.
//
// `edgerag ask` answers in one call, generating with the engine's own LLM:
//   auto engine = AnswerEngine::open({.index_dir = dir, .llm = llm_path});
//   Answer a = engine->answer("How does WAL mode work?", cfg);
//   nlohmann::json j = to_json(a);
// The server's POST /v1/rag/query runs the same pipeline in two halves around
// its batching scheduler (the engine is opened without an LLM):
//   PreparedAnswer p = engine->prepare(question, cfg, &target);  // retrieve + prompt
//   ... generate p.prompt with p.generation ...
//   Answer a = finish_answer(std::move(p), generated);           // cite
// The query-adaptive stages (AnswerConfig::adaptive; rag/adaptive.h) run inside
// prepare(): an answer-cache lookup, HyDE (a generation through
// PromptTarget::generate), model routing (LlmTargets) and context trimming;
// finish_answer() adds the confidence (rag/confidence.h), abstains below
// min_confidence and fills the cache. Answer::adaptive lists every decision.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rag/adaptive.h"
#include "rag/config.h"
#include "rag/confidence.h"
#include "rag/embedder.h"
#include "rag/search_types.h"
#include "runtime/chat_template.h"
#include "rag/prompt.h"
#include "rag/query_signals.h"
#include "runtime/generator.h"
#include "runtime/llm_backend.h"
#include "runtime/speculative.h"
#include "util/timer.h"

namespace edgerag::rag {

class AnswerCache;

struct Citation {
  int n = 0;      // the number used in the answer text
  SearchHit chunk;  // provenance and the text supplied under that number
};

struct AnswerTimings {  // milliseconds per stage
  double embed = 0, search = 0, rerank = 0, prompt = 0, prefill = 0, decode = 0;
  double queue = 0;    // waiting for a generation slot (server only)
  double extract = 0;  // extractive mode: sentence scoring (embedding sentences included)
  double hyde = 0;     // HyDE: hypothetical passage generated, embedded and searched
  double total = 0;
};

struct AnswerTokens {
  int prompt = 0;   // tokens of the rendered prompt (prefilled); 0 in extractive mode
  int context = 0;  // tokens of the supplied chunk texts (LLM tokenizer; 0 in extractive mode)
  int answer = 0;   // generated tokens
  int drafted = 0, accepted = 0;  // speculative decoding: draft tokens verified / kept
};

struct Answer {
  std::string text;
  std::string mode;                  // "generative" | "extractive"
  std::vector<Citation> citations;   // cited chunks, in order of first mention
  int removed_citations = 0;         // markers that named no supplied chunk
  std::vector<SearchHit> context;    // every chunk supplied, numbered 1..n in this order
  bool reranked = false;
  std::string stop_reason;           // "length" | "eog" | "stop" | "cancelled" ("stop" covers end tokens
                                     // in the server); "" extractive
  AnswerTimings timings;
  AnswerTokens tokens;
  std::vector<int32_t> prompt_ids;   // the prefilled prompt (generative mode; see prompt_tokens_json)
  // Query-adaptive pipeline.
  std::string model;                 // "large" | "small" (routing); "" extractive
  bool cached = false;               // served from the answer cache
  bool abstained = false;            // confidence below min_confidence: kAbstainText instead
  QuerySignals signals;              // of the first-stage retrieval
  ConfidenceParts confidence;
  std::string hyde_passage;          // HyDE's hypothetical passage, when it ran
  std::vector<AdaptiveStep> adaptive;  // every adaptive decision, in order, with its cost
  ChunkPrefillStats kv_reuse;        // chunk KV reuse of the prompt (chunk modes)
};

// {answer, citations:[{n, chunk_id, file, page, rows, headings, byte_start, byte_end, text}],
//  removed_citations, timings_ms:{embed, search, rerank, hyde, queue, prompt, prefill, decode, extract, total},
//  tokens:{prompt, context, answer, drafted, accepted, acceptance_rate}, mode, reranked, stop_reason, model, cached, abstained,
//  confidence:{confidence, evidence, margin, agreement, coverage, token_p}, signals:{form, terms, agreement,
//  margin, specificity, difficulty}, adaptive:[{stage, decision, reason, ms, joules}], hyde_passage?,
//  kv_reuse:{chunk_hits, chunk_misses, reused_tokens, recomputed_tokens, computed_tokens}}
nlohmann::json to_json(const Answer& a);

struct AnswerModels {  // resolved paths; empty = not used
  std::string index_dir = {};  // required
  std::string llm = {};        // decoder GGUF; empty -> extractive answers
  std::string embed = {};      // BERT embedder GGUF; empty -> the index's recorded one if that
                               // file exists. Hybrid retrieval needs an index with vectors;
                               // without, retrieval is BM25 and the embedder only scores
                               // sentences of extractive answers
  std::string rerank = {};     // cross-encoder GGUF; empty -> no reranking
  std::string llm_small = {};  // a second, smaller decoder for easy questions (routing); needs `llm`
  int n_threads = 0;           // 0 = default_thread_count()
  int n_ctx = 0;               // LLM context (prompt + answer); 0 = the model's, at most 4096
  KvType kv_type = default_kv_type();  // the local LLM's KV cache (and the chunk KV it stores and reuses)
  // Speculative decoding of the engine's own generations (output unchanged; see
  // runtime/speculative.h). Local models generate through runtime/local_llm
  // (the scheduler over one KV pool), as the server does.
  SpecOptions spec = {};
  // An LLM to generate with instead of loading `llm` (a remote server; no
  // routing, speculation or chunk KV reuse then: the server decides).
  std::shared_ptr<LlmBackend> llm_backend = {};
  // Already loaded models to use instead of `embed` / `rerank` (shared by
  // several engines; Encoder-backed ones are thread-safe).
  std::shared_ptr<Embedder> embedder = {};
  std::shared_ptr<Reranker> reranker = {};
  std::shared_ptr<AnswerCache> cache = {};  // answers of requests with adaptive.cache; null = none
  std::shared_ptr<ChunkKvStore> kv_store = {};  // chunk KV of the LLM's prompts; null = a RAM store of 1 GiB
};

// What the generation of a prepared prompt produced, however it was run.
struct GeneratedText {
  std::string text;  // stop string removed
  std::string stop_reason;
  int n_prompt = 0, n_answer = 0;  // tokens prefilled / generated
  int n_drafted = 0, n_accepted = 0;  // speculative decoding
  double queue_ms = 0, prefill_ms = 0, decode_ms = 0;
  std::optional<double> token_p = std::nullopt;  // geometric mean probability of the generated tokens, when known
  ChunkPrefillStats kv_reuse = {};  // chunk KV reuse of the prompt
};
// Counts and timings of a backend's generation (`text`: its streamed pieces joined).
GeneratedText generated_text(std::string text, const LlmResult& r);
// Runs a prompt: its ids, and its text for a backend that cannot take them.
using TextGenerator = std::function<GeneratedText(const LlmPrompt& prompt, const GenerationParams& p)>;

// The LLM a prompt is assembled for: its chat format, its encoding of a
// rendered prompt (exactly as it will be prefilled: Tokenizer::encode_parts
// with add_special) and its context length.
struct PromptTarget {
  ChatFormat chat = ChatFormat::Plain;
  PromptEncoder encode;
  int n_ctx = 0;
  TextGenerator generate = {};  // runs this LLM (HyDE's passage); empty: no HyDE
  const Tokenizer* tok = nullptr;  // its tokenizer when local (chunk spans for KV reuse); may be null
  static PromptTarget of(const Tokenizer& tok, ChatFormat chat, int n_ctx);
  // The backend's chat format, tokenizer (or count) and context; generate runs
  // the prompt on it to the end.
  static PromptTarget of(LlmBackend& llm);
};

// The LLMs a question may be routed to (adaptive.route); `small` may be null.
struct LlmTargets {
  const PromptTarget* large = nullptr;
  const PromptTarget* small = nullptr;
};

// Bounds and scope of one question. Its size in bytes is checked first
// (nothing is tokenized past it), then in tokens of the LLM (or of the embedder
// in extractive mode), both before retrieval: past either, edgerag::Error.
// Retrieval, reranking and prompt assembly stop at the deadline with
// edgerag::DeadlineExceeded.
struct QueryBounds {
  size_t max_question_bytes = 8192;
  int max_question_tokens = 1024;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::vector<std::string> collections = {};  // the collections searched; empty = all
  std::vector<std::string> file_types = {};   // documents of these types only; empty = any
  std::string path_prefix = {};               // documents whose path starts with this
  // The retriever asked for; unset: hybrid when the index has vectors and the config allows, else BM25.
  std::optional<SearchMode> mode = {};
};

// {prompt_ids, prompt_pieces}: the token ids of a prompt and the text of each
// (control tokens as their names), so anyone can check what the model saw.
nlohmann::json prompt_tokens_json(const std::vector<int32_t>& ids, const Tokenizer& tok);

// The first half of a generative answer: retrieved context and the prompt to
// generate from. For an extractive answer `answer` is already complete.
struct PreparedAnswer {
  Answer answer;                // context, retrieval and prompt timings, token counts of the prompt
  std::string prompt;           // rendered prompt's text (for display)
  std::vector<int32_t> prompt_ids;  // what to generate from; empty = extractive, nothing to generate
  std::vector<ChunkSpan> chunk_spans;  // the context chunks' token spans (chunk KV reuse on, local LLM)
  KvReuseOptions kv_reuse;             // from the config
  GenerationParams generation;  // max tokens, sampling and stop strings from the config
  Timer started;                // the answer's total time runs from prepare()
  AdaptiveConfig adaptive;      // what finish_answer needs: min_confidence, watts
  std::shared_ptr<AnswerCache> cache;  // where finish_answer stores the answer (null: not cached)
  std::string cache_scope, cache_question;
  std::vector<float> cache_vector;
  bool generative() const { return !prompt_ids.empty(); }
};

// The second half: the generated text trimmed, its [n] markers checked against
// the supplied chunks (invalid ones removed), citations resolved to provenance.
Answer finish_answer(PreparedAnswer prepared, const GeneratedText& generated);

struct AdaptiveRetrieval {
  std::vector<SearchHit> hits;  // ranked, at most AnswerConfig::max_chunks
  int max_chunks = 0;           // of which the answer uses this many (context trimming)
};

// Owns the opened index and loaded models. Not thread-safe: one answer at a
// time per engine (callers serialize, e.g. with a mutex).
class AnswerEngine {
 public:
  // Streamed answer text as it is generated; return false to stop generating.
  using TokenCallback = std::function<bool(std::string_view piece)>;

  // Throws edgerag::Error for a missing index or an unloadable model.
  static std::unique_ptr<AnswerEngine> open(const AnswerModels& models);
  ~AnswerEngine();

  // Retrieval, then the prompt for the engine's own LLM: prepare(.., target),
  // generation, finish_answer. Without an LLM, the extractive answer.
  Answer answer(const std::string& question, const AnswerConfig& cfg, const TokenCallback& on_token = {});

  // Retrieval and prompt assembly for `llm` (nullptr: the complete extractive
  // answer). Throws edgerag::Error for an empty or too long question, a bad
  // config or a context too small for the answer budget.
  PreparedAnswer prepare(const std::string& question, const AnswerConfig& cfg, const PromptTarget* llm,
                         const QueryBounds& bounds = {});
  // The same with model routing: the prompt is assembled for the LLM chosen
  // (PreparedAnswer::answer.model says which: generate with that one).
  PreparedAnswer prepare(const std::string& question, const AnswerConfig& cfg, const LlmTargets& llms,
                         const QueryBounds& bounds = {});

  // The retrieval half of prepare(), for evaluators: first stage, then the
  // routing, HyDE and context decisions (recorded in `a` with the signals and
  // timings). `query_vector`: the question's embedding if already computed.
  AdaptiveRetrieval retrieve(const std::string& question, const AnswerConfig& cfg, const LlmTargets& llms,
                             const QueryBounds& bounds, Answer& a, std::vector<float> query_vector = {});

  bool has_llm() const;
  LlmTargets llms() const;  // the engine's own LLMs (HyDE generates with them); null without
  bool has_embedder() const;
  bool has_reranker() const;
  const Tokenizer* llm_tokenizer() const;  // null without an LLM or when its tokenizer is not known here

  struct Impl;

 private:
  explicit AnswerEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgerag::rag
