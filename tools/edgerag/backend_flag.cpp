#include "backend_flag.h"

#include "remote/remote_encoders.h"
#include "remote/remote_llm.h"

namespace edgerag::cli {

std::unique_ptr<LlmBackend> BackendFlags::connect(const std::string& tokenizer, int n_ctx) const {
  remote::RemoteOptions o{.base_url = llm_url, .tokenizer = tokenizer, .n_ctx = n_ctx};
  o.http.api_key = api_key;
  o.http.timeout_ms = timeout_s * 1000L;
  return remote::RemoteLlm::connect(o);
}

std::shared_ptr<rag::Embedder> BackendFlags::embedder(const std::string& gguf) const {
  if (embed_url.empty()) return nullptr;
  return remote::connect_embedder({.base_url = embed_url, .gguf = gguf, .http = {.api_key = api_key, .timeout_ms = timeout_s * 1000L}});
}

std::shared_ptr<rag::Reranker> BackendFlags::reranker(const std::string& gguf) const {
  if (rerank_url.empty()) return nullptr;
  return remote::connect_reranker({.base_url = rerank_url, .gguf = gguf, .http = {.api_key = api_key, .timeout_ms = timeout_s * 1000L}});
}

std::shared_ptr<BackendFlags> add_backend_options(CLI::App* cmd, bool encoders) {
  auto f = std::make_shared<BackendFlags>();
  const char* g = "Remote backends";
  cmd->add_option("--llm-backend", f->llm_url,
                  "OpenAI-compatible server to generate with (base URL such as http://host:8000/v1); -m then only "
                  "names its tokenizer")
      ->group(g);
  if (encoders) {
    cmd->add_option("--embed-backend", f->embed_url, "Server for embeddings (POST /v1/embeddings); --embed names its GGUF")->group(g);
    cmd->add_option("--rerank-backend", f->rerank_url, "Server for rerank scores (POST /v1/rerank); --rerank names its GGUF")->group(g);
  }
  cmd->add_option("--backend-key", f->api_key, "Bearer key for the backend")->group(g);
  cmd->add_option("--backend-timeout", f->timeout_s, "Seconds a backend request may take")
      ->check(CLI::Range(1, 86400))->capture_default_str()->group(g);
  return f;
}

}  // namespace edgerag::cli
