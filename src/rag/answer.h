// Grounded question answering: retrieve (hybrid, or BM25 when no embedder),
// optionally rerank, assemble a prompt under a token budget, generate with the
// LLM's chat template, and check the answer's [n] citations against the chunks
// supplied. Without an LLM the extractive mode answers with the best supporting
// sentences of the retrieved chunks and cites them.
//
// Used by `edgerag ask` and the server's POST /v1/rag/query:
//   auto engine = AnswerEngine::open({.index_dir = dir, .llm = llm_path});
//   Answer a = engine->answer("How does WAL mode work?", cfg);
//   nlohmann::json j = to_json(a);
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rag/config.h"
#include "rag/search_types.h"

namespace edgerag::rag {

struct Citation {
  int n = 0;      // the number used in the answer text
  SearchHit chunk;  // provenance and the text supplied under that number
};

struct AnswerTimings {  // milliseconds per stage
  double embed = 0, search = 0, rerank = 0, prompt = 0, prefill = 0, decode = 0;
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
  std::string stop_reason;           // generator's ("length" | "eog" | "stop" | "cancelled"); "" extractive
  AnswerTimings timings;
  AnswerTokens tokens;
};

// {answer, citations:[{n, chunk_id, file, page, rows, headings, byte_start, byte_end, text}],
//  removed_citations, timings_ms:{embed, search, rerank, prompt, prefill, decode, extract, total},
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

// Owns the opened index and loaded models. Not thread-safe: one answer at a
// time per engine (callers serialize, e.g. with a mutex).
class AnswerEngine {
 public:
  // Streamed answer text as it is generated; return false to stop generating.
  using TokenCallback = std::function<bool(std::string_view piece)>;

  // Throws edgerag::Error for a missing index or an unloadable model.
  static std::unique_ptr<AnswerEngine> open(const AnswerModels& models);
  ~AnswerEngine();

  Answer answer(const std::string& question, const AnswerConfig& cfg, const TokenCallback& on_token = {});

  bool has_llm() const;
  bool has_embedder() const;
  bool has_reranker() const;

  struct Impl;

 private:
  explicit AnswerEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgerag::rag
