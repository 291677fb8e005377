// Embedding and reranking on a remote server: OpenAI's POST /v1/embeddings and
// the /v1/rerank shape (query, documents -> results[{index, relevance_score}])
// that llama-server, TEI and edgerag serve. The server embeds texts as given
// (no query/passage prefix is added here). With the local GGUF of the same
// model (`gguf`), name() is that file's, so an index built locally with it
// accepts the remote embedder, and token counts use its tokenizer; without,
// counts are remote_llm.h's estimate.
// `base_url` may list several replicas ("A,B"): each call goes to one of them
// (remote/replica_pool.h: least outstanding, circuit breakers, health checks)
// and is retried on another when it gets no answer or a 429/503.
#pragma once
#include <memory>
#include <string>

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

// Both ask the server once (the model name; the embedder also its dimension);
// throw edgerag::Error when it does not answer as expected.
std::shared_ptr<rag::Embedder> connect_embedder(const EncoderBackend& b);
std::shared_ptr<rag::Reranker> connect_reranker(const EncoderBackend& b);

}  // namespace edgerag::remote
