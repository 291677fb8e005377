#include "backend_flag.h"

#include "remote/pooled_llm.h"

namespace edgerag::cli {

namespace {

remote::HttpOptions http_options(const BackendFlags& f) {
  return {.api_key = f.api_key, .connect_timeout_ms = f.connect_timeout_ms, .timeout_ms = f.timeout_s * 1000L,
          .read_timeout_s = f.read_timeout_s};
}

remote::PoolOptions pool_options(const BackendFlags& f) {
  remote::PoolOptions p;
  p.affinity_slack = f.affinity_slack;
  p.retry_ratio = f.retry_ratio;
  p.health_interval_ms = f.health_interval_ms;
  return p;
}

}  // namespace

std::unique_ptr<LlmBackend> BackendFlags::connect(const std::string& tokenizer, int n_ctx) const {
  return connect(llm_url, tokenizer, n_ctx);
}

std::unique_ptr<LlmBackend> BackendFlags::connect(const std::string& url, const std::string& tokenizer, int n_ctx) const {
  const char* flag = url == llm_url ? "--llm-backend" : "--route";
  remote::PooledOptions o{.urls = remote::split_backend_urls(url, flag),
                          .remote = {.base_url = {}, .tokenizer = tokenizer, .n_ctx = n_ctx, .http = http_options(*this)},
                          .pool = pool_options(*this),
                          .affinity_tokens = affinity_tokens};
  return remote::PooledLlm::connect(o);
}

std::shared_ptr<remote::RemoteEmbedder> BackendFlags::embedder(const std::string& gguf) const {
  if (embed_url.empty()) return nullptr;
  return std::make_shared<remote::RemoteEmbedder>(remote::EncoderBackend{.base_url = embed_url, .gguf = gguf, .http = http_options(*this), .pool = pool_options(*this)});
}

std::shared_ptr<remote::RemoteReranker> BackendFlags::reranker(const std::string& gguf) const {
  if (rerank_url.empty()) return nullptr;
  return std::make_shared<remote::RemoteReranker>(remote::EncoderBackend{.base_url = rerank_url, .gguf = gguf, .http = http_options(*this), .pool = pool_options(*this)});
}

std::shared_ptr<BackendFlags> add_backend_options(CLI::App* cmd, bool encoders) {
  auto f = std::make_shared<BackendFlags>();
  const char* g = "Remote backends";
  cmd->add_option("--llm-backend", f->llm_url,
                  "OpenAI-compatible server(s) to generate with (base URLs such as http://host:8000/v1, several "
                  "separated by commas: a pool of replicas); -m then only names the tokenizer")
      ->group(g);
  if (encoders) {
    cmd->add_option("--embed-backend", f->embed_url, "Server for embeddings (POST /v1/embeddings); --embed names its GGUF")->group(g);
    cmd->add_option("--rerank-backend", f->rerank_url, "Server for rerank scores (POST /v1/rerank); --rerank names its GGUF")->group(g);
  }
  cmd->add_option("--backend-key", f->api_key, "Bearer key for the backend")->group(g);
  cmd->add_option("--backend-timeout", f->timeout_s, "Seconds a backend request may take")
      ->check(CLI::Range(1, 86400))->capture_default_str()->group(g);
  cmd->add_option("--backend-connect-timeout", f->connect_timeout_ms, "Milliseconds to connect to a backend replica")
      ->check(CLI::Range(1L, 600000L))->capture_default_str()->group(g);
  cmd->add_option("--backend-read-timeout", f->read_timeout_s, "Seconds a backend replica may send nothing")
      ->check(CLI::Range(1L, 86400L))->capture_default_str()->group(g);
  cmd->add_option("--affinity-tokens", f->affinity_tokens,
                  "Prompt prefix (tokens; 4 bytes each for text) that sends a request to the replica that served it "
                  "last; 0 = off")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str()->group(g);
  cmd->add_option("--affinity-slack", f->affinity_slack,
                  "Requests a replica may have outstanding beyond the least loaded one and still get its prefixes")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str()->group(g);
  cmd->add_option("--backend-health-interval", f->health_interval_ms, "Milliseconds between replica health checks (0 = none)")
      ->check(CLI::Range(0, 3600000))->capture_default_str()->group(g);
  cmd->add_option("--retry-budget", f->retry_ratio, "Retries banked per request sent (on top of 8)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
  return f;
}

}  // namespace edgerag::cli
