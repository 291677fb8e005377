// The RAG endpoints' access to the index: a pool of answer engines for
// queries, each with its own read connection, so retrieval and reranking run
// in parallel and never wait for an upload (SQLite WAL readers see the last
// commit); and one writer at a time for uploads and deletions. Embedder and
// reranker are loaded once and shared (the Encoder serializes its passes), or
// are remote pools (serve --embed-backend / --rerank-backend); without an
// embedder given, the index's recorded one is (for queries and uploads).
// A read-only pool (`serve --read-only`, a replica serving a published
// snapshot) refuses every write and switches to a newer snapshot on reload().
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rag/answer.h"
#include "rag/index.h"

namespace edgerag::server {

// Bounds and switches of the RAG endpoints (documented in docs/SECURITY.md).
struct RagOptions {
  size_t max_question_bytes = 8192;  // 400 past it, before anything else
  int max_question_tokens = 1024;    // 400 past it, before retrieval
  int max_rerank_top = 64;           // a config asking more rerank candidates: 400
  size_t readers = 4;                // idle query engines kept open
  bool read_only = false;            // a replica: writes answer 403, reload() picks up a newer snapshot
  bool debug_prompt = false;         // a query's "debug": true adds prompt_ids and prompt_pieces
};

// What the engines embed and rerank with.
struct RagEncoders {
  std::string embed_path = {}, rerank_path = {};  // resolved GGUF paths or "" (the index's recorded embedder then)
  std::shared_ptr<rag::Embedder> embedder = {};   // given (a remote pool): used instead of embed_path
  std::shared_ptr<rag::Reranker> reranker = {};   // likewise for rerank_path
};

class RagEngines {
 public:
  RagEngines(std::string index_dir, RagEncoders encoders, size_t readers, bool read_only = false);

  // An engine for one query; it goes back to the pool when the lease ends.
  class Lease {
   public:
    Lease(RagEngines& pool, std::unique_ptr<rag::AnswerEngine> e, uint64_t generation)
        : pool_(pool), engine_(std::move(e)), generation_(generation) {}
    ~Lease() { pool_.release(std::move(engine_), generation_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    rag::AnswerEngine& operator*() { return *engine_; }
    rag::AnswerEngine* operator->() { return engine_.get(); }

   private:
    RagEngines& pool_;
    std::unique_ptr<rag::AnswerEngine> engine_;
    uint64_t generation_;
  };
  Lease acquire();

  // Runs `fn` on the writable index, one writer at a time; queries started
  // afterwards open fresh engines that see the change. Read-only: ApiError 403.
  void write(const std::function<void(rag::Index&)>& fn);
  // Runs `fn` on the index for listing (the writer's, or a read connection when read-only).
  void read(const std::function<void(rag::Index&)>& fn);
  // ApiError 403 on a read-only pool (before an upload is even parsed).
  void require_writable() const;

  // Opens the index at the configured path again (following a symlink flipped
  // to a newer snapshot) and, when it opens, makes it the one new queries use;
  // queries in flight finish on the engines they hold. On failure (edgerag::Error)
  // nothing changes. The stats of the index now served.
  rag::IndexStats reload();
  std::string served_dir();  // the resolved folder queries open

  // The embedder engines and the writer share: `embed`, else the index's
  // recorded one when that file exists; null when neither.
  std::shared_ptr<rag::Embedder> embedder();

 private:
  void release(std::unique_ptr<rag::AnswerEngine> e, uint64_t generation);
  rag::AnswerModels models();  // with the shared embedder / reranker, loaded on first use
  std::string embedder_path() const;  // `embed`, else the recorded one if that file exists, else ""

  const std::string dir_;
  const RagEncoders given_;
  const size_t max_idle_;
  const bool read_only_;
  std::mutex mu_;  // guards what follows (never held while searching or writing)
  std::string served_;  // dir_ resolved (symlinks followed) at start or the last reload
  std::shared_ptr<rag::Embedder> embedder_;
  std::string embedder_path_;  // what embedder_ was loaded from
  std::shared_ptr<rag::Reranker> reranker_;
  // Answers of queries asking for the cache (adaptive.cache), shared by every engine.
  std::shared_ptr<rag::AnswerCache> cache_;  // a fresh one per reload: another index's answers
  std::vector<std::unique_ptr<rag::AnswerEngine>> idle_;
  uint64_t generation_ = 0;  // bumped by every write and reload; idle engines are all of this one
  std::mutex write_mu_;
};

}  // namespace edgerag::server
