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
#include "rag/prompt.h"

namespace edgerag {

struct Citation {
  int n = 0;           // the number used in the answer text
  ContextChunk chunk;  // provenance and the text supplied under that number
};

struct StageTimings {  // milliseconds
  double embed = 0, search = 0, rerank = 0, prompt = 0, prefill = 0, decode = 0, total = 0;
};

struct TokenCounts {
  int prompt = 0;   // tokens of the rendered prompt (prefilled)
  int context = 0;  // tokens of the supplied chunk texts
  int answer = 0;   // generated tokens
};

struct Answer {
  std::string text;
  std::string mode;                  // "generative" | "extractive"
  std::vector<Citation> citations;   // cited chunks, in order of first mention
  int removed_citations = 0;         // markers that named no supplied chunk
  std::vector<ContextChunk> context; // every chunk supplied, numbered 1..n in this order
  bool reranked = false;
  StageTimings timings;
  TokenCounts tokens;
};

// {answer, citations:[{n, chunk_id, file, page, rows, headings, byte_start, byte_end, text}],
//  removed_citations, timings_ms:{embed, search, rerank, prompt, prefill, decode, total},
//  tokens:{prompt, context, answer}, mode, reranked}
nlohmann::json to_json(const Answer& a);

struct AnswerModels {  // paths; empty = not used
  std::string index_dir;  // required
  std::string llm;        // decoder GGUF; empty -> extractive answers
  std::string embed;      // BERT embedder GGUF; empty -> BM25-only retrieval
  std::string rerank;     // cross-encoder GGUF; empty -> no reranking
};

// Owns the opened index and loaded models. Not thread-safe: one answer at a
// time per engine (callers serialize, e.g. with a mutex).
class AnswerEngine {
 public:
  using TokenCallback = std::function<void(std::string_view piece)>;  // streamed answer text

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

}  // namespace edgerag
