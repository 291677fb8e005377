#include "server/http_server.h"

#include <chrono>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "rag/answer.h"
#include "server/api_error.h"
#include "tensor/cpu_features.h"
#include "util/log.h"
#include "webui/assets.h"
#include "util/timer.h"

namespace edgerag::server {

using nlohmann::json;

namespace {

bool needs_key(const std::string& path) { return path.starts_with("/v1/") || path.starts_with("/admin/"); }

ApiError unauthorized() {
  return ApiError(401, "authentication_error", "invalid or missing API key (Authorization: Bearer KEY)", "",
                  "invalid_api_key");
}

// nlohmann's message without its "[json.exception.type_error.302] " prefix.
std::string type_error_text(const json::type_error& e) {
  std::string_view m = e.what();
  if (const size_t at = m.find("] "); at != std::string_view::npos) m.remove_prefix(at + 2);
  return std::string(m);
}

}  // namespace

ApiError api_error_of(std::exception_ptr thrown, const std::string& where) {
  try {
    std::rethrow_exception(thrown);
  } catch (const ApiError& e) {
    return e;
  } catch (const remote::BackendError& e) {
    return ApiError(502, "server_error", e.what(), "", "backend_unavailable");
  } catch (const Overloaded& e) {
    ApiError a(429, "rate_limit_error", e.what(), "", "queue_full");
    a.retry_after_s = 1;
    return a;
  } catch (const Error& e) {
    return ApiError(400, "invalid_request_error", e.what());
  } catch (const json::type_error& e) {
    // A field of the wrong JSON type that a handler read without checking.
    return ApiError(400, "invalid_request_error",
                    fmt::format("a request field has the wrong JSON type ({})", type_error_text(e)));
  } catch (const std::exception& e) {
    log(LogLevel::Error, "{}: {}", where, e.what());
  } catch (...) {
    log(LogLevel::Error, "{}: an unknown exception", where);
  }
  return ApiError(500, "server_error", "internal server error");
}

void Server::handle_page(const httplib::Request& req, httplib::Response& res) {
  const webui::Asset* a = webui::find_asset(req.path);
  if (!a) throw ApiError(404, "invalid_request_error", fmt::format("no page {}", req.path));
  // Everything the page loads or calls is on this server (no inline script, nothing elsewhere).
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                 "form-action 'none'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(a->bytes), std::string(a->content_type));
}

Server::Server(ServedModels models, ServerOptions opt)
    : models_(std::move(models)), opt_(std::move(opt)), keys_(opt_.api_keys) {
  // The key is checked on the head alone, so an unauthenticated client cannot
  // make the server read (and hold) its body; route() checks again.
  http_ = std::make_unique<HttpFront>(
      opt_.connections,
      [this](const RequestHead& head) {
        if (needs_key(head.path) && !keys_.allows(head.get("authorization"))) throw unauthorized();
      },
      [this](int status) { metrics_.count_request("other", status); });
  created_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  setup();
}

Server::~Server() { stop(); }

int Server::bind() {
  port_ = http_->bind(opt_.host, opt_.port);
  if (port_ < 0) fail("cannot listen on {}:{}", opt_.host, opt_.port);
  return port_;
}

void Server::run() { http_->run(); }

void Server::stop() { http_->stop(); }

std::vector<std::string> Server::model_ids() const {
  std::vector<std::string> ids;
  if (models_.llm) ids.push_back(models_.llm->id());
  if (models_.llm_small) ids.push_back(models_.llm_small->id());
  if (!models_.embed_id.empty()) ids.push_back(models_.embed_id);
  if (!models_.rerank_id.empty()) ids.push_back(models_.rerank_id);
  return ids;
}

void Server::check_model(const std::string& requested, const std::string& served, const char* what) const {
  if (served.empty())
    throw ApiError(404, "invalid_request_error", fmt::format("this server has no {} model loaded", what), "model",
                   "model_not_found");
  if (!requested.empty() && requested != served)
    throw ApiError(404, "invalid_request_error",
                   fmt::format("model '{}' is not loaded; the {} model here is '{}'", requested, what, served), "model",
                   "model_not_found");
}

namespace {

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  res.set_content(error_body(e).dump(), "application/json");
}

}  // namespace

void Server::route(const std::string& method, const std::string& path, Handler h) {
  auto wrapped = [this, path, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
    Timer t;
    const int open = ++open_requests_;
    try {
      if (open > opt_.max_open_requests) {
        ApiError e(503, "server_error", "server overloaded: too many open requests", "", "overloaded");
        e.retry_after_s = 2;
        throw e;
      }
      if (needs_key(path) && !keys_.allows(req.get_header_value("Authorization"))) throw unauthorized();
      h(req, res);
      if (res.status == -1) res.status = 200;  // httplib fills it in only when writing
    } catch (...) {
      send_error(res, api_error_of(std::current_exception(), req.method + " " + req.path));
    }
    --open_requests_;
    metrics_.count_request(path, res.status);
    metrics_.observe_seconds("request", t.seconds());
  };
  if (method == "GET") http_->Get(path, wrapped);
  else if (method == "POST") http_->Post(path, wrapped);
  else if (method == "DELETE") http_->Delete(path, wrapped);
}

void Server::setup() {
  // Errors httplib produces itself (404, 413 body too large, 400 bad request line).
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg = res.status == 404   ? fmt::format("no route for {} {}", req.method, req.path)
                      : res.status == 413 ? fmt::format("request body exceeds {} bytes", opt_.connections.framing.max_body_bytes)
                                          : fmt::format("HTTP {}", res.status);
    res.set_content(error_body(msg, "invalid_request_error").dump(), "application/json");
    metrics_.count_request("other", res.status);
  });

  route("GET", "/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"status", "ok"}, {"models", model_ids()}}.dump(), "application/json");
  });
  route("GET", "/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string text = metrics_.render() + (models_.llm ? models_.llm->metrics() : "");
    if (models_.embed_backend) text += models_.embed_backend->metrics();
    if (models_.rerank_backend) text += models_.rerank_backend->metrics();
    res.set_content(text, "text/plain; version=0.0.4");
  });
  route("GET", "/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& id : model_ids())
      data.push_back({{"id", id}, {"object", "model"}, {"created", created_}, {"owned_by", "edgerag"}});
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  });
  route("POST", "/v1/chat/completions",
        [this](const httplib::Request& q, httplib::Response& r) { handle_generation(q, r, true); });
  route("POST", "/v1/completions",
        [this](const httplib::Request& q, httplib::Response& r) { handle_generation(q, r, false); });
  route("POST", "/v1/embeddings", [this](const httplib::Request& q, httplib::Response& r) { handle_embeddings(q, r); });
  route("POST", "/v1/rerank", [this](const httplib::Request& q, httplib::Response& r) { handle_rerank(q, r); });
  route("POST", "/v1/rag/query", [this](const httplib::Request& q, httplib::Response& r) { handle_rag_query(q, r); });
  route("POST", "/v1/documents",
        [this](const httplib::Request& q, httplib::Response& r) { handle_documents(q, r, false); });
  route("DELETE", "/v1/documents",
        [this](const httplib::Request& q, httplib::Response& r) { handle_documents(q, r, true); });
  route("GET", "/v1/documents", [this](const httplib::Request& q, httplib::Response& r) { handle_document_list(q, r); });
  for (const char* method : {"GET", "POST", "DELETE"})
    route(method, "/v1/collections", [this](const httplib::Request& q, httplib::Response& r) { handle_collections(q, r); });
  route("POST", "/admin/reload", [this](const httplib::Request& q, httplib::Response& r) { handle_reload(q, r); });
  // What is served, for the page: which model does what, and whether there is an index.
  route("GET", "/v1/server", [this](const httplib::Request&, httplib::Response& res) {
    auto id = [](bool loaded, const std::string& s) { return loaded ? json(s) : json(nullptr); };
    json j = {{"llm", id(models_.llm != nullptr, models_.llm ? models_.llm->id() : "")},
              {"llm_small", id(models_.llm_small != nullptr, models_.llm_small ? models_.llm_small->id() : "")},
              {"embed", id(!models_.embed_id.empty(), models_.embed_id)},
              {"rerank", id(!models_.rerank_id.empty(), models_.rerank_id)},
              {"index", !models_.index_dir.empty()},
              {"read_only", opt_.rag.read_only},
              {"device", fmt::format("CPU ({})", isa_name(active_isa()))},
              {"max_tokens", opt_.limits.max_tokens}};
    if (models_.llm) j["n_ctx"] = models_.llm->n_ctx();
    res.set_content(j.dump(), "application/json");
  });
  for (const auto& a : webui::assets())
    route("GET", std::string(a.path), [this](const httplib::Request& q, httplib::Response& r) { handle_page(q, r); });
  route("GET", "/", [this](const httplib::Request& q, httplib::Response& r) { handle_page(q, r); });

  metrics_.set_gauges([this] {
    std::vector<std::pair<std::string, std::pair<std::string, double>>> g;
    g.push_back({"open_requests", {"HTTP requests being served.", double(open_requests_.load())}});
    const ConnectionStats c = http_->stats();
    g.push_back({"open_connections", {"HTTP connections open (arriving, idle or served).", double(c.open)}});
    g.push_back({"connections_refused", {"Connections refused at the caps (counter).", double(c.refused)}});
    g.push_back({"requests_timed_out", {"Requests whose head or body did not arrive in time (counter).", double(c.timed_out)}});
    auto* local = dynamic_cast<LocalLlm*>(models_.llm.get());
    if (!local) return g;  // a remote backend's figures are its servers' own
    SchedulerStats s = local->scheduler().stats();
    g.push_back({"queue_depth", {"Requests waiting for admission.", double(s.queued)}});
    g.push_back({"running_sequences", {"Requests being decoded.", double(s.running)}});
    g.push_back({"kv_blocks_used", {"KV cache blocks in use (sequences and prefix cache).", double(s.kv_blocks_used)}});
    g.push_back({"kv_blocks_total", {"KV cache blocks in the pool.", double(s.kv_blocks_total)}});
    g.push_back({"prefix_cache_entries", {"Blocks indexed by the prefix cache.", double(s.prefix_entries)}});
    g.push_back({"prefix_cache_hit_rate", {"Prompt tokens served from the prefix cache / prompt tokens.", s.prefix_hit_rate}});
    g.push_back({"prompt_tokens", {"Prompt tokens admitted (counter).", double(s.prompt_tokens)}});
    g.push_back({"generated_tokens", {"Tokens generated (counter).", double(s.generated_tokens)}});
    g.push_back({"decode_steps", {"Batched forward steps (counter).", double(s.steps)}});
    g.push_back({"draft_tokens", {"Speculative draft tokens verified (counter).", double(s.drafted_tokens)}});
    g.push_back({"kv_chunk_hits", {"Retrieved chunks whose KV came from the chunk store (counter).", double(s.kv_reuse.chunk_hits)}});
    g.push_back({"kv_chunk_misses", {"Retrieved chunks computed for the chunk store (counter).", double(s.kv_reuse.chunk_misses)}});
    g.push_back({"kv_chunk_tokens_reused", {"Prompt tokens whose chunk KV was reused (counter).", double(s.kv_reuse.reused_tokens)}});
    g.push_back({"kv_chunk_tokens_recomputed", {"Chunk tokens recomputed in context (counter).", double(s.kv_reuse.recomputed_tokens)}});
    g.push_back({"draft_tokens_accepted", {"Speculative draft tokens accepted (counter).", double(s.accepted_tokens)}});
    const double now = uptime_.seconds();
    g.push_back({"tokens_per_second", {"Tokens generated per second since the previous scrape.",
                                       (s.generated_tokens - last_scrape_tokens_) / std::max(now - last_scrape_s_, 1e-3)}});
    last_scrape_s_ = now;
    last_scrape_tokens_ = s.generated_tokens;
    return g;
  });
}

}  // namespace edgerag::server
