// The HTTP server of `edgerag serve`: OpenAI-compatible generation and
// embeddings, Cohere/Jina-style rerank, RAG query and document endpoints,
// /health and Prometheus /metrics. Connections pass server/http_front first
// (caps per client and in total, head and body deadlines, strict framing,
// bounded bodies, the API key checked from the headers before any body is
// read); errors are OpenAI-style JSON; overload answers 429 (queue full) or
// 503 (too many open requests or connections) with Retry-After. Every
// generation, RAG answers included, runs on the LLM's one batching scheduler.
#pragma once
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/bert_encoder.h"
#include "rag/ingest_types.h"
#include "remote/remote_encoders.h"
#include "server/auth.h"
#include "server/http_front.h"
#include "runtime/local_llm.h"
#include "server/metrics.h"
#include "server/params.h"
#include "server/rag_engines.h"
#include "util/timer.h"

namespace edgerag::rag {
class AnswerEngine;
class Embedder;
struct PreparedAnswer;
}

namespace edgerag::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (see Server::port())
  std::vector<std::string> api_keys{};  // KEY[:COLLECTION,...[:read|write]] (server/auth.h); none = no auth
  Limits limits{};
  ConnectionLimits connections{};  // connection caps, deadlines, body size (server/http_front)
  int request_timeout_s = 300;  // a generation still running after this is cancelled (504)
  int max_open_requests = 128;  // beyond this: 503
  RagOptions rag{};
};

// What the server serves; any part may be missing (its endpoints answer 404).
struct ServedModels {
  std::unique_ptr<LlmBackend> llm;
  // RAG model routing (serve --route): the LLM easy questions go to; needs `llm`
  // (the large one). /v1/rag/query reports which answered and why.
  std::unique_ptr<LlmBackend> llm_small;
  std::unique_ptr<Encoder> embed, rerank;
  // Remote pools (serve --embed-backend / --rerank-backend) instead of `embed` /
  // `rerank`: /v1/embeddings, /v1/rerank, RAG queries and ingest all use them.
  std::shared_ptr<remote::RemoteEmbedder> embed_backend;
  std::shared_ptr<remote::RemoteReranker> rerank_backend;
  std::string embed_id, rerank_id;  // file stems (a backend's: --embed's stem, else the served model's id); "" = none
  std::string index_dir;            // RAG index ("" = no RAG endpoints)
  std::string embed_path, rerank_path;  // loaded again by the RAG answer engine (without a backend)
};

class Server {
 public:
  Server(ServedModels models, ServerOptions opt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int bind();   // binds host:port; returns the port (throws edgerag::Error)
  void run();   // serves until stop()
  void stop();
  int port() const { return port_; }
  Metrics& metrics() { return metrics_; }
  // Switches to the index now at --index (a newer snapshot; POST /admin/reload,
  // SIGHUP); throws ApiError 409 saying why when it does not open (the old one stays).
  nlohmann::json reload_index();

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  using Clock = std::chrono::steady_clock;
  using Send = std::function<void(const nlohmann::json&)>;  // one server-sent event
  void route(const std::string& method, const std::string& path, Handler h);
  void setup();
  std::vector<std::string> model_ids() const;
  void check_model(const std::string& requested, const std::string& served, const char* what) const;

  void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat);
  void handle_embeddings(const httplib::Request& req, httplib::Response& res);
  void handle_rerank(const httplib::Request& req, httplib::Response& res);
  void handle_rag_query(const httplib::Request& req, httplib::Response& res);
  void handle_documents(const httplib::Request& req, httplib::Response& res, bool remove);
  void handle_document_list(const httplib::Request& req, httplib::Response& res);
  void handle_collections(const httplib::Request& req, httplib::Response& res);  // GET, POST, DELETE
  void handle_reload(const httplib::Request& req, httplib::Response& res);       // POST /admin/reload
  void handle_page(const httplib::Request& req, httplib::Response& res);       // the web page's files
  // Files of one multipart upload: stored under `uploads`, then ingested with
  // `progress`; the report as JSON (failures also carry the uploaded name).
  struct Upload {
    struct File {
      std::string path, name, content;  // stored path (the escaped name until stored), uploaded name, bytes
    };
    std::string collection;
    std::vector<File> files;
    std::string original_name(const std::string& path) const;
  };
  nlohmann::json ingest_upload(Upload& upload, const std::filesystem::path& uploads, const rag::ProgressFn& progress);
  RagEngines& rag_engines();
  rag::PreparedAnswer prepare_answer(const httplib::Request& req, bool& stream, bool& debug);

  // Generation shared by the OpenAI and RAG endpoints: a prompt the server can
  // tokenize is checked against the vocabulary and context (`param` names the
  // request field). `llm`: the backend to run on (null: models_.llm).
  std::shared_ptr<LlmStream> start_job(LlmPrompt prompt, const LlmParams& params, const char* param,
                                       LlmBackend* llm = nullptr);
  // The RAG endpoints' LLM for a routed answer: "small" -> llm_small, else llm.
  LlmBackend* rag_llm(const std::string& routed) const;
  Clock::time_point deadline() const { return Clock::now() + std::chrono::seconds(opt_.request_timeout_s); }
  // The whole text; the job is cancelled at the deadline. Errors and timeouts throw ApiError 500 / 504.
  std::string wait_text(LlmStream& job, Clock::time_point deadline);
  // Streams the job as server-sent events: on_piece per text piece, on_done once
  // at the end, then "data: [DONE]". A client that goes away or the deadline
  // cancels the job; the stream counts as an open request until it ends.
  void stream_job(httplib::Response& res, std::shared_ptr<LlmStream> job, Clock::time_point deadline,
                  std::function<void(const std::string&, const Send&)> on_piece,
                  std::function<void(const LlmResult&, const Send&)> on_done);
  void record_job(const LlmResult& r);  // stage histograms and token counters

  ServedModels models_;
  ServerOptions opt_;
  ApiKeys keys_;
  Metrics metrics_;
  std::unique_ptr<HttpFront> http_;
  std::atomic<int> open_requests_{0};
  std::atomic<uint64_t> next_id_{1};
  int64_t created_ = 0;
  int port_ = 0;
  Timer uptime_;
  double last_scrape_s_ = 0;  // for tokens/s between scrapes (gauge callback only)
  uint64_t last_scrape_tokens_ = 0;
  std::once_flag rag_once_;
  std::unique_ptr<RagEngines> rag_;  // query engines and the index writer
};

}  // namespace edgerag::server
