// edgerag serve: the OpenAI-compatible HTTP server (see docs/SERVING.md).
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "backend_flag.h"
#include "command.h"
#include "device_flag.h"
#include "kv_reuse_flag.h"
#include "kv_type_flag.h"
#include "rag/adaptive.h"
#include "spec_flag.h"
#include "server/auth.h"
#include "rag/index.h"
#include "server/load_models.h"

namespace edgerag::cli {
namespace {

struct ServeFlags {
  std::string index, llm, embed, rerank;
  std::string route;  // small=MODEL,large=MODEL
  server::ServerOptions server;
  LlmOptions llm_opt;
  bool no_prefix_cache = false;
  KvStoreFlags kv_store;  // chunk KV of RAG prompts (requests choose "prompt": {"kv_reuse": ...} in their config)
  std::string keys_file;
};

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve LLM, embeddings, rerank and RAG over an OpenAI-compatible HTTP API");
  auto f = std::make_shared<ServeFlags>();
  cmd->add_option("--index", f->index, "RAG index directory (enables /v1/rag/query and /v1/documents)");
  cmd->add_flag("--read-only", f->server.rag.read_only,
                "Serve --index as a replica: document and collection writes answer 403; POST /admin/reload or "
                "SIGHUP switches to the index --index names then (a newer snapshot)");
  cmd->add_option("-m,--model", f->llm, "LLM (GGUF name or path) for /v1/chat/completions and /v1/completions");
  cmd->add_option("--route", f->route,
                  "small=MODEL,large=MODEL: RAG questions the difficulty estimate finds easy go to the small LLM "
                  "(requests choose with config adaptive.route; large replaces -m); a MODEL may be an "
                  "http(s):// OpenAI-compatible server");
  cmd->add_option("--embed", f->embed, "Embedding model for /v1/embeddings and dense retrieval");
  cmd->add_option("--rerank", f->rerank, "Cross-encoder for /v1/rerank and RAG reranking");
  add_models_dir_flag(cmd);
  cmd->add_option("--host", f->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", f->server.port, "Port (0 = any free port)")->capture_default_str();
  cmd->add_option("--api-key", f->server.api_keys,
                  "Accepted API key (repeatable; none = no auth): KEY, or KEY:COLL1,COLL2 for those collections "
                  "only, with :read appended for read-only (docs/SECURITY.md)");
  cmd->add_option("--api-keys-file", f->keys_file, "File of API keys, one KEY[:COLLS[:read|write]] per line");
  cmd->add_option("--max-question-bytes", f->server.rag.max_question_bytes, "Longest RAG question (bytes)")
      ->capture_default_str();
  cmd->add_option("--max-question-tokens", f->server.rag.max_question_tokens, "Longest RAG question (tokens)")
      ->capture_default_str();
  cmd->add_option("--max-rerank-top", f->server.rag.max_rerank_top, "Most rerank candidates a RAG query may ask")
      ->capture_default_str();
  cmd->add_flag("--debug-prompt", f->server.rag.debug_prompt,
                "Let /v1/rag/query return the prompt's token ids and pieces (\"debug\": true)");
  cmd->add_option("--kv-tokens", f->llm_opt.kv_tokens, "KV cache size shared by all requests (tokens)")->capture_default_str();
  add_kv_type_option(cmd, &f->llm_opt.kv_type);
  add_device_options(cmd);
  cmd->add_option("--ctx", f->llm_opt.n_ctx, "Context per request (0 = the model's)")->capture_default_str();
  cmd->add_option("--threads", f->llm_opt.n_threads, "Compute threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--max-running", f->llm_opt.scheduler.max_running, "Requests decoded together")->capture_default_str();
  cmd->add_option("--max-queue", f->llm_opt.scheduler.max_queued, "Waiting requests before 429")->capture_default_str();
  cmd->add_option("--step-tokens", f->llm_opt.scheduler.step_tokens, "Token budget of one batched step")->capture_default_str();
  cmd->add_option("--prefill-chunk", f->llm_opt.scheduler.prefill_chunk, "Largest prompt slice per step")->capture_default_str();
  cmd->add_flag("--no-prefix-cache", f->no_prefix_cache, "Do not share computed prompt prefixes");
  add_kv_store_options(cmd, &f->kv_store);
  auto spec = add_speculative_options(cmd);  // the default of requests without an "edgerag" field
  cmd->add_option("--max-tokens", f->server.limits.max_tokens, "Largest max_tokens a request may ask")->capture_default_str();
  auto& conn = f->server.connections;
  cmd->add_option("--max-body", conn.framing.max_body_bytes, "Largest request body, any framing (bytes)")->capture_default_str();
  cmd->add_option("--max-connections", conn.max_connections, "Open connections before 503")->capture_default_str();
  cmd->add_option("--max-connections-per-client", conn.max_connections_per_client,
                  "Open connections from one address before 503")->capture_default_str();
  cmd->add_option("--header-timeout", conn.header_timeout_s, "Seconds for a request head to arrive (408)")->capture_default_str();
  cmd->add_option("--body-timeout", conn.body_timeout_s, "Seconds for a request body to arrive (408)")->capture_default_str();
  cmd->add_option("--http-workers", conn.workers, "Requests processed at once")->capture_default_str();
  cmd->add_option("--timeout", f->server.request_timeout_s, "Seconds before a generation is cancelled")->capture_default_str();
  cmd->add_option("--max-open", f->server.max_open_requests, "Open requests before 503")->capture_default_str();
  auto backend = add_backend_options(cmd, true);
  cmd->callback([f, spec, backend] {
    // SIGINT/SIGTERM (shutdown) and SIGHUP (index reload) are taken by a waiting
    // thread, so both run outside a signal handler; blocked before any thread
    // starts (the backends' health checks), as every thread inherits the mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    f->llm_opt.spec = spec->options();
    server::ModelPaths paths;
    paths.index_dir = f->index;
    // Routing: either model may be a GGUF or a server's URL (large then is the --llm-backend).
    const rag::RouteModels route = f->route.empty() ? rag::RouteModels{} : rag::parse_route_models(f->route);
    auto is_url = [](const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; };
    if (is_url(route.large)) backend->llm_url = route.large;
    else if (!route.large.empty()) f->llm = route.large;
    if (!f->llm.empty()) paths.llm = resolve_model_flag(f->llm);
    // A remote LLM: -m, if given, only names its tokenizer.
    std::unique_ptr<LlmBackend> remote_llm = backend->remote() ? backend->connect(paths.llm, f->llm_opt.n_ctx) : nullptr;
    if (remote_llm) paths.llm.clear();
    EDGERAG_CHECK(route.small.empty() || remote_llm || !paths.llm.empty(),
                  "serve --route: the small model needs a large one (large=MODEL, -m or --llm-backend)");
    std::unique_ptr<LlmBackend> remote_small =
        is_url(route.small) ? backend->connect(route.small, "", f->llm_opt.n_ctx) : nullptr;
    if (!route.small.empty() && !remote_small) paths.llm_small = resolve_model_flag(route.small);
    if (!f->embed.empty()) paths.embed = resolve_model_flag(f->embed);
    if (!f->rerank.empty()) paths.rerank = resolve_model_flag(f->rerank);
    // Remote encoders: --embed / --rerank, if given, only name their GGUF (identity and tokenizer).
    auto embed_backend = backend->embedder(paths.embed);
    auto rerank_backend = backend->reranker(paths.rerank);
    if (!remote_llm && paths.llm.empty() && paths.embed.empty() && paths.rerank.empty() && paths.index_dir.empty() &&
        !embed_backend && !rerank_backend)
      throw Error("serve: nothing to serve (give -m, --embed, --rerank, --index or a backend)");
    if (f->server.rag.read_only) {
      if (paths.index_dir.empty()) throw Error("serve: --read-only needs --index");
      rag::Index::open(paths.index_dir);  // a replica starts only on an index that opens
    }
    f->llm_opt.scheduler.prefix_cache = !f->no_prefix_cache;
    f->llm_opt.kv_store = std::make_shared<ChunkKvStore>(f->kv_store.options());
    if (!f->keys_file.empty())
      for (auto& k : server::read_api_keys_file(f->keys_file)) f->server.api_keys.push_back(std::move(k));
    f->server.limits.default_max_tokens = std::min(f->server.limits.default_max_tokens, f->server.limits.max_tokens);
    // A backend's id: its GGUF's stem like a local model's, else the name the server gives it.
    auto id_of = [](const std::string& gguf, const std::string& served) {
      return gguf.empty() ? served : std::filesystem::path(gguf).stem().string();
    };
    server::ServedModels served = server::load_models(
        {.llm = paths.llm, .embed = embed_backend ? "" : paths.embed, .rerank = rerank_backend ? "" : paths.rerank,
         .index_dir = paths.index_dir, .llm_small = paths.llm_small},
        f->llm_opt);
    if (remote_llm) served.llm = std::move(remote_llm);
    if (remote_small) served.llm_small = std::move(remote_small);
    if (embed_backend) served.embed_id = id_of(paths.embed, embed_backend->model());
    if (rerank_backend) served.rerank_id = id_of(paths.rerank, rerank_backend->model());
    served.embed_backend = std::move(embed_backend);
    served.rerank_backend = std::move(rerank_backend);
    server::Server srv(std::move(served), f->server);
    int port = srv.bind();
    std::printf("edgerag serve: listening on http://%s:%d\n", f->server.host.c_str(), port);
    std::fflush(stdout);
    std::thread waiter([&] {
      int sig = 0;
      while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        try {
          std::fprintf(stderr, "edgerag serve: SIGHUP: %s\n", srv.reload_index().dump().c_str());
        } catch (const std::exception& e) {
          std::fprintf(stderr, "edgerag serve: SIGHUP: %s\n", e.what());
        }
      }
      srv.stop();
    });
    srv.run();
    pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter when run() ended otherwise
    waiter.join();
  });
}

}  // namespace
EDGERAG_COMMAND("serve", setup);
}  // namespace edgerag::cli
