// Embedding and reranking on a remote server: OpenAI's POST /v1/embeddings and
// the /v1/rerank shape (query, documents -> results[{index, relevance_score}])
// that llama-server, TEI and edgerag serve. The server embeds texts as given.
// With the local GGUF of the same model (`gguf`), name() is that file's, so an
// index built locally with it accepts the remote embedder, token counts use its
// tokenizer, and embed() adds the model's query/passage prefixes (e5, bge) as a
// local encoder does, so remote and local vectors agree; without it, texts go
// as given and counts are remote_llm.h's estimate.
// `base_url` may list several replicas ("A,B"): each call goes to one of them
// (remote/replica_pool.h: least outstanding, circuit breakers, health checks)
// and is retried on another when it gets no answer or a 429/503. When no
// replica serves a call, or one answers with a 5xx or a malformed body, the
// call throws BackendError (a server answers 502).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rag/embedder.h"
#include "remote/http_client.h"
#include "remote/replica_pool.h"

namespace edgerag::remote {

struct EncoderBackend {
  std::string base_url;      // http://host:port/v1, or several separated by commas
  std::string gguf = {};     // the same model here: name and tokenizer (optional)
  HttpOptions http = {};
  PoolOptions pool = {};
};

class EncoderReplicas;  // the pool, the served model's name, the local tokenizer

class RemoteEmbedder final : public rag::Embedder {
 public:
  // Asks the server once (model name and dimension); throws edgerag::Error when it does not answer as expected.
  explicit RemoteEmbedder(const EncoderBackend& b);
  ~RemoteEmbedder() override;
  std::string name() const override;
  int dim() const override { return dim_; }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, bool is_query) override;
  size_t count_tokens(std::string_view text) const override;
  // The texts as given (no role prefix), plus usage.prompt_tokens of the server's answer (0 when it reports none).
  std::vector<std::vector<float>> embed_counted(const std::vector<std::string>& texts, size_t* prompt_tokens);
  const std::string& model() const;  // the served model's id
  std::string metrics() const;       // the pool's, labelled backend="embed"

 private:
  std::unique_ptr<EncoderReplicas> r_;
  int dim_ = 0;
};

class RemoteReranker final : public rag::Reranker {
 public:
  // Asks the server once (model name); throws edgerag::Error when it does not answer as expected.
  explicit RemoteReranker(const EncoderBackend& b);
  ~RemoteReranker() override;
  std::string name() const override;
  // The cross-encoder's raw scores: asked with TEI's "raw_scores": true, which
  // edgerag and TEI honour (llama-server reports raw scores anyway); a server
  // that only reports 0..1 relevance gives those (same order).
  std::vector<float> score(const std::string& query, const std::vector<std::string>& passages) override;
  const std::string& model() const;
  std::string metrics() const;  // the pool's, labelled backend="rerank"

 private:
  std::unique_ptr<EncoderReplicas> r_;
};

}  // namespace edgerag::remote
