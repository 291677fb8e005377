// The real server on an ephemeral loopback port, and small client functions
// shared by the server tests.
#pragma once
#include <gtest/gtest.h>
#include <httplib.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/http_server.h"
#include "server/load_models.h"
#include "test_paths.h"

namespace edgerag::server::test_support {

using nlohmann::json;

// Serves until destroyed.
struct Running {
  std::unique_ptr<Server> srv;
  std::thread thread;
  int port = 0;
  Running(ServedModels m, ServerOptions opt) {
    opt.host = "127.0.0.1";
    opt.port = 0;
    srv = std::make_unique<Server>(std::move(m), opt);
    port = srv->bind();
    thread = std::thread([this] { srv->run(); });
  }
  ~Running() {
    srv->stop();
    thread.join();
  }
  httplib::Client client(const std::string& key = "") const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    if (!key.empty()) c.set_bearer_token_auth(key.c_str());
    return c;
  }
  // /health through a fresh client; true when it answered 200 within 1 s.
  bool health_within_1s() const {
    const auto t0 = std::chrono::steady_clock::now();
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(1, 0);
    auto res = c.Get("/health");
    return res && res->status == 200 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1);
  }
  // The value of an unlabelled metric in /metrics (-1 when absent).
  double metric(const std::string& name) const {
    auto res = client().Get("/metrics");
    if (!res) return -1;
    const std::string key = "\n" + name + " ";
    const size_t at = res->body.find(key);
    return at == std::string::npos ? -1 : std::stod(res->body.substr(at + key.size()));
  }
  // Polls until metric(name) == want (the engine updates its gauges between steps).
  bool metric_reaches(const std::string& name, double want, int timeout_ms = 5000) const {
    for (int waited = 0; waited < timeout_ms; waited += 10) {
      if (metric(name) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return metric(name) == want;
  }
};

// The decoder with a pause before every batched step: a lower bound on how
// long a generation takes, so timeouts and overload happen deterministically.
class SlowStep : public StepModel {
 public:
  SlowStep(std::unique_ptr<StepModel> inner, std::chrono::milliseconds pause)
      : inner_(std::move(inner)), pause_(pause) {}
  int32_t n_vocab() const override { return inner_->n_vocab(); }
  int32_t n_ctx() const override { return inner_->n_ctx(); }
  int32_t block_size() const override { return inner_->block_size(); }
  int32_t n_blocks_total() const override { return inner_->n_blocks_total(); }
  int32_t n_blocks_free() const override { return inner_->n_blocks_free(); }
  int32_t new_seq(std::span<const int32_t> prefix) override { return inner_->new_seq(prefix); }
  void free_seq(int32_t seq) override { inner_->free_seq(seq); }
  std::vector<int32_t> seq_blocks(int32_t seq) const override { return inner_->seq_blocks(seq); }
  void retain_block(int32_t block) override { inner_->retain_block(block); }
  void release_block(int32_t block) override { inner_->release_block(block); }
  void truncate(int32_t seq, int32_t n_tokens) override { inner_->truncate(seq, n_tokens); }
  void forward(std::span<const Entry> entries, std::vector<float>& logits) override {
    std::this_thread::sleep_for(pause_);
    inner_->forward(entries, logits);
  }

 private:
  std::unique_ptr<StepModel> inner_;
  std::chrono::milliseconds pause_;
};

// stories260K.gguf on one thread; `pause` > 0 slows every step down (SlowStep).
// An index and no models: BM25 retrieval, extractive answers.
inline ServedModels index_only(const std::string& dir) {
  ServedModels m;
  m.index_dir = dir;
  return m;
}

inline ServedModels llm_only(SchedulerOptions sched = {}, std::chrono::milliseconds pause = {},
                             KvType kv_type = DType::F32) {
  LlmOptions o;
  o.kv_tokens = 8192;
  o.kv_type = kv_type;
  o.n_threads = 1;
  o.scheduler = sched;
  if (pause.count() > 0)
    o.wrap_step = [pause](std::unique_ptr<StepModel> m) { return std::make_unique<SlowStep>(std::move(m), pause); };
  return load_models({.llm = test::model_path("stories260K.gguf")}, o);
}

inline json post(const httplib::Client& c_, const std::string& path, const json& body, int* status = nullptr) {
  auto& c = const_cast<httplib::Client&>(c_);
  auto res = c.Post(path.c_str(), body.dump(), "application/json");
  EXPECT_TRUE(res) << "no response from " << path;
  if (!res) return json();
  if (status) *status = res->status;
  return json::parse(res->body);
}

// The JSON payloads of a server-sent event stream ("data: {...}"), in order;
// `done` tells whether it ended with "data: [DONE]".
inline std::vector<json> sse_events(const std::string& body, bool* done = nullptr) {
  std::vector<json> out;
  std::string buf = body;
  if (done) *done = false;
  for (size_t pos; (pos = buf.find("\n\n")) != std::string::npos; buf.erase(0, pos + 2)) {
    std::string ev = buf.substr(0, pos);
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    if (ev == "data: [DONE]") {
      if (done) *done = true;
      continue;
    }
    out.push_back(json::parse(ev.substr(6)));
  }
  return out;
}

// A fresh folder named for the test and the process, removed afterwards.
struct TempFolder {
  std::filesystem::path path;
  explicit TempFolder(const std::string& name)
      : path(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
  }
  ~TempFolder() { std::filesystem::remove_all(path); }
};

}  // namespace edgerag::server::test_support
