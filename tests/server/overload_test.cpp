// Overload and timeout paths of the server, made deterministic with tiny
// limits and a decoder slowed to at least 50 ms per step (SlowStep).
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "loopback.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;
using namespace std::chrono_literals;

constexpr auto kPause = 50ms;  // per batched step: 100 tokens take at least 5 s

json completion(int max_tokens) {
  // Greedy stories260K continues "Once upon a time" for well over 32 tokens without an end token.
  return {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

// A streaming completion that holds its connection open after the first
// chunk until release(), then hangs up.
class HeldStream {
 public:
  HeldStream(const Running& r, int max_tokens) {
    json body = completion(max_tokens);
    body["stream"] = true;
    thread_ = std::thread([this, &r, body] {
      auto c = r.client();
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.body = body.dump();
      req.set_header("Content-Type", "application/json");
      req.content_receiver = [this](const char*, size_t, uint64_t, uint64_t) {
        std::unique_lock lk(mu_);
        started_ = true;
        cv_.notify_all();
        cv_.wait(lk, [&] { return released_; });
        return false;
      };
      c.send(req);
    });
  }
  ~HeldStream() {
    release();
    thread_.join();
  }
  bool wait_started() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, 20s, [&] { return started_; });
  }
  void release() {
    std::lock_guard lk(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false, released_ = false;
  std::thread thread_;
};

void expect_openai_error(const httplib::Result& res, int status, const std::string& type, const std::string& code,
                         const std::string& retry_after) {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, status) << res->body;
  EXPECT_EQ(res->get_header_value("Retry-After"), retry_after);
  json j = json::parse(res->body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << res->body;
  EXPECT_TRUE(j["error"]["message"].is_string()) << res->body;
  EXPECT_EQ(j["error"]["type"], type) << res->body;
  EXPECT_EQ(j["error"]["code"], code) << res->body;
}

TEST(ServerOverload, OpenRequestLimitAnswers503WithRetryAfterAndRecovers) {
  ServerOptions opt;
  opt.max_open_requests = 1;
  Running r(llm_only({}, kPause), opt);
  {
    HeldStream held(r, 100);
    ASSERT_TRUE(held.wait_started());
    // The stream is still open (it needs at least 5 s): every other request is refused.
    expect_openai_error(r.client().Post("/v1/completions", completion(4).dump(), "application/json"), 503,
                        "server_error", "overloaded", "2");
    expect_openai_error(r.client().Get("/health"), 503, "server_error", "overloaded", "2");
    held.release();  // hang up: the server cancels the stream at its next write
  }
  bool recovered = false;
  for (int i = 0; i < 500 && !recovered; ++i) {
    auto res = r.client().Get("/health");
    recovered = res && res->status == 200;
    if (!recovered) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(recovered);
  int status = 0;
  json out = post(r.client(), "/v1/completions", completion(4), &status);
  EXPECT_EQ(status, 200) << out.dump();
  EXPECT_EQ(out["usage"]["completion_tokens"], 4);
  EXPECT_TRUE(r.metric_reaches("edgerag_running_sequences", 0));
  EXPECT_NE(r.client().Get("/metrics")->body.find("edgerag_requests_total{endpoint=\"/v1/completions\",status=\"503\"} 1"),
            std::string::npos);
}

TEST(ServerOverload, FullQueueAnswers429WithRetryAfterAndRecovers) {
  Running r(llm_only({.max_running = 1, .max_queued = 1, .step_tokens = 64, .prefill_chunk = 64}, kPause), {});
  HeldStream held(r, 100);  // the one running request
  ASSERT_TRUE(held.wait_started());
  int queued_status = 0;
  json queued_out;
  std::thread queued([&] { queued_out = post(r.client(), "/v1/completions", completion(3), &queued_status); });
  ASSERT_TRUE(r.metric_reaches("edgerag_queue_depth", 1));
  expect_openai_error(r.client().Post("/v1/completions", completion(4).dump(), "application/json"), 429,
                      "rate_limit_error", "queue_full", "1");
  held.release();  // frees the running slot: the queued request runs
  queued.join();
  EXPECT_EQ(queued_status, 200) << queued_out.dump();
  EXPECT_EQ(queued_out["usage"]["completion_tokens"], 3);
  int status = 0;
  post(r.client(), "/v1/completions", completion(2), &status);
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(r.metric_reaches("edgerag_queue_depth", 0));
}

TEST(ServerOverload, TimeoutEndsGenerationAndFreesKvBlocks) {
  ServerOptions opt;
  opt.request_timeout_s = 1;
  Running r(llm_only({.prefix_cache = false}, kPause), opt);
  const auto t0 = std::chrono::steady_clock::now();
  auto res = r.client().Post("/v1/completions", completion(100).dump(), "application/json");
  const double waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  expect_openai_error(res, 504, "server_error", "timeout", "");
  EXPECT_GE(waited_s, 1.0);
  EXPECT_LT(waited_s, 4.0);  // 100 tokens would take at least 5 s
  EXPECT_TRUE(r.metric_reaches("edgerag_kv_blocks_used", 0));

  // A stream that times out ends like a token limit, with what it produced.
  json body = completion(100);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  res = r.client().Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  bool done = false;
  auto events = sse_events(res->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2]["choices"][0]["finish_reason"], "length");
  const int generated = events.back()["usage"]["completion_tokens"];
  EXPECT_GT(generated, 0);
  EXPECT_LT(generated, 100);
  EXPECT_TRUE(r.metric_reaches("edgerag_kv_blocks_used", 0));
  EXPECT_TRUE(r.metric_reaches("edgerag_running_sequences", 0));
  EXPECT_EQ(r.metric("edgerag_requests_cancelled_total"), 2);
}

}  // namespace
}  // namespace edgerag::server
