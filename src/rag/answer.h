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
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rag/config.h"
#include "rag/search_types.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "util/timer.h"

namespace edgerag::rag {

struct Citation {
  int n = 0;      // the number used in the answer text
  SearchHit chunk;  // provenance and the text supplied under that number
};

struct AnswerTimings {  // milliseconds per stage
  double embed = 0, search = 0, rerank = 0, prompt = 0, prefill = 0, decode = 0;
  double queue = 0;    // waiting for a generation slot (server only)
  double extract = 0;  // extractive mode: sentence scoring (embedding sentences included)
  double total = 0;
};

struct AnswerTokens {
  int prompt = 0;   // tokens of the rendered prompt (prefilled); 0 in extractive mode
  int context = 0;  // tokens of the supplied chunk texts (LLM tokenizer; 0 in extractive mode)
  int answer = 0;   // generated tokens
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
};

// {answer, citations:[{n, chunk_id, file, page, rows, headings, byte_start, byte_end, text}],
//  removed_citations, timings_ms:{embed, search, rerank, queue, prompt, prefill, decode, extract, total},
//  tokens:{prompt, context, answer}, mode, reranked, stop_reason}
nlohmann::json to_json(const Answer& a);

struct AnswerModels {  // resolved paths; empty = not used
  std::string index_dir = {};  // required
  std::string llm = {};        // decoder GGUF; empty -> extractive answers
  std::string embed = {};      // BERT embedder GGUF; empty -> the index's recorded one if that
                               // file exists. Hybrid retrieval needs an index with vectors;
                               // without, retrieval is BM25 and the embedder only scores
                               // sentences of extractive answers
  std::string rerank = {};     // cross-encoder GGUF; empty -> no reranking
  int n_threads = 0;           // 0 = default_thread_count()
  int n_ctx = 0;               // LLM context (prompt + answer); 0 = the generator's default

};

// The LLM a prompt is assembled for: its chat format, its exact token count of
// a prompt (as it will be encoded for generation) and its context length.
struct PromptTarget {
  ChatFormat chat = ChatFormat::Plain;
  std::function<size_t(std::string_view)> count_tokens;
  int n_ctx = 0;
};

// The first half of a generative answer: retrieved context and the prompt to
// generate from. For an extractive answer `answer` is already complete.
struct PreparedAnswer {
  Answer answer;                // context, retrieval and prompt timings, token counts of the prompt
  std::string prompt;           // rendered prompt; "" = extractive, nothing to generate
  GenerationParams generation;  // max tokens, sampling and stop strings from the config
  Timer started;                // the answer's total time runs from prepare()
  bool generative() const { return !prompt.empty(); }
};

// What the generation of a prepared prompt produced, however it was run.
struct GeneratedText {
  std::string text;  // stop string removed
  std::string stop_reason;
  int n_prompt = 0, n_answer = 0;  // tokens prefilled / generated
  double queue_ms = 0, prefill_ms = 0, decode_ms = 0;
};

// The second half: the generated text trimmed, its [n] markers checked against
// the supplied chunks (invalid ones removed), citations resolved to provenance.
Answer finish_answer(PreparedAnswer prepared, const GeneratedText& generated);

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
  // answer). Throws edgerag::Error for an empty question, a bad config or a
  // context too small for the answer budget.
  PreparedAnswer prepare(const std::string& question, const AnswerConfig& cfg, const PromptTarget* llm);

  bool has_llm() const;
  bool has_embedder() const;
  bool has_reranker() const;

  struct Impl;

 private:
  explicit AnswerEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgerag::rag
