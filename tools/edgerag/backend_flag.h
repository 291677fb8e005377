// --llm-backend URL[,URL...]: generate on remote OpenAI-compatible servers
// instead of a local model (ask, serve); several URLs are a pool of replicas
// of one model (remote/pooled_llm.h, remote/replica_pool.h). With -m as well,
// that GGUF is the remote model's tokenizer and chat format (exact token
// budgets; see remote/remote_llm.h).
// --embed-backend / --rerank-backend URL[,URL...] (ask, serve): embeddings and
// rerank scores from servers; --embed / --rerank then name the same model's GGUF.
#pragma once
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "remote/remote_encoders.h"
#include "runtime/llm_backend.h"

namespace edgerag::cli {

struct BackendFlags {
  std::string llm_url, embed_url, rerank_url;
  std::string api_key;
  int timeout_s = 300;
  long connect_timeout_ms = 2000;
  long read_timeout_s = 120;
  int affinity_tokens = 256;
  int affinity_slack = 4;
  int health_interval_ms = 1000;
  double retry_ratio = 0.2;
  bool remote() const { return !llm_url.empty(); }
  // Connects (throws edgerag::Error when the server does not answer); `tokenizer`: resolved GGUF or "".
  std::unique_ptr<LlmBackend> connect(const std::string& tokenizer, int n_ctx) const;
  // Same for other servers (a routed model given as URLs), with these key, timeouts and pool settings.
  std::unique_ptr<LlmBackend> connect(const std::string& url, const std::string& tokenizer, int n_ctx) const;
  // Null without the flag; `gguf`: the resolved local model file or "".
  std::shared_ptr<remote::RemoteEmbedder> embedder(const std::string& gguf) const;
  std::shared_ptr<remote::RemoteReranker> reranker(const std::string& gguf) const;
};

// `encoders`: also --embed-backend and --rerank-backend.
std::shared_ptr<BackendFlags> add_backend_options(CLI::App* cmd, bool encoders = false);

}  // namespace edgerag::cli
