// The replica pool against scripted OpenAI-compatible replicas on loopback
// (httplib): least-outstanding balancing, prefix affinity and its overload
// spill, the circuit breaker's states, the retry budget, a request retried
// on another replica when its first one refuses or is busy, a replica dying
// mid-stream ending only its own stream with an error, recovery through the
// health checks, the per-replica metrics, and an embedder over two replicas
// going on when one is down.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "remote/circuit_breaker.h"
#include "remote/pooled_llm.h"
#include "remote/prefix_key.h"
#include "remote/remote_encoders.h"
#include "remote/replica_pool.h"
#include "runtime/scheduler.h"
#include "util/error.h"
#include "test_paths.h"

namespace edgerag::remote {
namespace {

using namespace std::chrono_literals;

// A replica that answers every completion with its own name, so a test sees
// where a request went. Modes: ok | busy (503) | cut (one piece, then the
// connection drops) | hold (waits until released before answering).
struct Replica {
  std::string name;
  std::unique_ptr<httplib::Server> http;
  std::thread thread;
  int port = 0;
  std::atomic<int> completions{0};
  std::string mode = "ok";
  std::atomic<bool> hold_released{false};
  std::mutex mu;
  std::vector<std::string> embedded;  // every text /v1/embeddings got, in order

  explicit Replica(std::string n, int fixed_port = 0) : name(std::move(n)) { start(fixed_port); }
  ~Replica() { stop(); }
  void start(int fixed_port) {
    http = std::make_unique<httplib::Server>();
    http->Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("{}", "application/json"); });
    http->Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"m","max_model_len":512}]})", "application/json");
    });
    http->Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      const auto in = nlohmann::json::parse(req.body)["input"];
      {
        std::lock_guard lock(mu);
        for (const auto& t : in) embedded.push_back(t.get<std::string>());
      }
      nlohmann::json data = nlohmann::json::array();
      for (size_t i = 0; i < in.size(); ++i) data.push_back({{"index", i}, {"embedding", {3.0, 4.0}}});
      res.set_content(nlohmann::json{{"data", data}}.dump(), "application/json");
    });
    http->Post("/v1/completions", [this](const httplib::Request&, httplib::Response& res) {
      completions++;
      if (mode == "busy") {
        res.status = 503;
        res.set_content(R"({"error":{"message":"busy"}})", "application/json");
        return;
      }
      if (mode == "hold")
        while (!hold_released) std::this_thread::sleep_for(2ms);
      const bool cut = mode == "cut";
      res.set_chunked_content_provider("text/event-stream", [this, cut](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& s) { sink.write(s.data(), s.size()); };
        send("data: {\"choices\":[{\"index\":0,\"text\":\"" + name + "\",\"finish_reason\":null}]}\n\n");
        if (cut) return false;
        send("data: {\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        sink.done();
        return true;
      });
    });
    port = fixed_port ? (http->bind_to_port("127.0.0.1", fixed_port) ? fixed_port : -1) : http->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port, 0);
    thread = std::thread([this] { http->listen_after_bind(); });
    while (!http->is_running()) std::this_thread::sleep_for(1ms);
  }
  void stop() {
    if (!http) return;
    http->stop();
    thread.join();
    http.reset();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
};

std::string drain(LlmStream& s, LlmResult* result = nullptr) {
  std::string text, piece;
  for (;;) {
    const auto n = s.next(piece, 5000);
    if (n == LlmStream::Next::Piece) text += piece;
    if (n == LlmStream::Next::Done) break;
  }
  if (result) *result = s.result();
  return text;
}

LlmPrompt text_prompt(std::string t) { return {.text = std::move(t)}; }

PoolOptions quiet_pool() {
  PoolOptions o;
  o.health_interval_ms = 0;  // the tests call check_health() themselves
  return o;
}

std::unique_ptr<PooledLlm> pool_of(const std::vector<std::string>& urls, PoolOptions p = quiet_pool(), int affinity = 0) {
  return PooledLlm::connect({.urls = urls, .remote = {.base_url = {}, .n_ctx = 512}, .pool = p, .affinity_tokens = affinity});
}

TEST(CircuitBreaker, OpensAfterFailuresProbesOnceThenCloses) {
  CircuitBreaker b({.failures_to_open = 3, .open_ms = 100});
  const auto t = CircuitBreaker::Clock::now();
  b.failure(t), b.failure(t);
  EXPECT_TRUE(b.available(t));
  b.success();  // a success resets the count
  b.failure(t), b.failure(t);
  EXPECT_EQ(b.state(), CircuitBreaker::State::Closed);
  b.failure(t);
  EXPECT_EQ(b.state(), CircuitBreaker::State::Open);
  EXPECT_FALSE(b.available(t + 99ms));
  EXPECT_TRUE(b.available(t + 100ms));
  EXPECT_EQ(b.state(), CircuitBreaker::State::HalfOpen);
  b.admit();  // the probe
  EXPECT_FALSE(b.available(t + 101ms));  // one probe at a time
  b.failure(t + 102ms);  // the probe failed: open again, for a full wait
  EXPECT_EQ(b.state(), CircuitBreaker::State::Open);
  EXPECT_FALSE(b.available(t + 201ms));
  EXPECT_TRUE(b.available(t + 202ms));
  b.admit();
  b.success();
  EXPECT_EQ(b.state(), CircuitBreaker::State::Closed);
  EXPECT_TRUE(b.available(t + 203ms));
}

TEST(ReplicaPool, LeastOutstandingInTurn) {
  ReplicaPool p({"http://a/v1", "http://b/v1", "http://c/v1"}, quiet_pool());
  std::vector<size_t> got;
  for (int i = 0; i < 3; ++i) got.push_back(p.acquire({})->replica);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<size_t>{0, 1, 2}));  // one each
  p.release(1, ReplicaPool::Outcome::Ok, 0.1);
  EXPECT_EQ(p.acquire({})->replica, 1u);  // the only one with nothing outstanding
  EXPECT_EQ(p.acquire({}, {0, 1})->replica, 2u);  // exclusions are honoured
  EXPECT_FALSE(p.acquire({}, {0, 1, 2}).has_value());
}

TEST(ReplicaPool, AffinityFollowsTheKeyUntilTheReplicaIsOverloaded) {
  PoolOptions o = quiet_pool();
  o.affinity_slack = 2;
  ReplicaPool p({"http://a/v1", "http://b/v1"}, o);
  const auto first = p.acquire({42});
  EXPECT_FALSE(first->affinity_hit);
  p.release(first->replica, ReplicaPool::Outcome::Ok, 0);
  for (int i = 0; i < 2; ++i) {  // the same key: same replica, even with more outstanding than the other
    const auto l = p.acquire({42});
    EXPECT_EQ(l->replica, first->replica);
    EXPECT_TRUE(l->affinity_hit);
  }
  // Two outstanding there, none on the other: overloaded, so the key moves...
  const auto moved = p.acquire({42});
  EXPECT_NE(moved->replica, first->replica);
  EXPECT_FALSE(moved->affinity_hit);
  // ...and stays where it moved.
  const auto again = p.acquire({42});
  EXPECT_EQ(again->replica, moved->replica);
  EXPECT_TRUE(again->affinity_hit);
  EXPECT_EQ(p.stats()[first->replica].affinity_hits, 2u);
}

TEST(ReplicaPool, RetryBudgetIsBankedPerRequest) {
  PoolOptions o = quiet_pool();
  o.retry_min = 2, o.retry_ratio = 0.5, o.retry_max = 3;
  ReplicaPool p({"http://a/v1"}, o);
  EXPECT_TRUE(p.take_retry());
  EXPECT_TRUE(p.take_retry());
  EXPECT_FALSE(p.take_retry());
  for (int i = 0; i < 4; ++i) p.release(p.acquire({})->replica, ReplicaPool::Outcome::Ok, 0);  // 4 x 0.5 banked
  EXPECT_TRUE(p.take_retry());
  EXPECT_TRUE(p.take_retry());
  EXPECT_FALSE(p.take_retry());
  EXPECT_EQ(p.retries(), 4u);
}

TEST(ReplicaPool, PrefixKeysCoverOnlyThePrefixAtEachLength) {
  const std::string head(256 * 4 + 10, 'x');  // 256 "tokens" of text shared
  const auto a = prefix_keys(text_prompt(head + "first question"), 512), b = prefix_keys(text_prompt(head + "second"), 512);
  ASSERT_EQ(a.size(), 3u);  // 64, 128 and 256 tokens: 512 is longer than either prompt
  EXPECT_EQ(a, b);
  EXPECT_EQ(prefix_keys(text_prompt(head + std::string(2000, 'y')), 512).size(), 4u);
  EXPECT_NE(prefix_keys(text_prompt(head + std::string(2000, 'y')), 512)[3], prefix_keys(text_prompt(head + std::string(2000, 'z')), 512)[3]);
  EXPECT_TRUE(prefix_keys(text_prompt(head), 0).empty());  // affinity off
  EXPECT_TRUE(prefix_keys(text_prompt("short"), 256).empty());
  LlmPrompt c{.ids = {1, 2, 3, 4}}, d{.ids = {1, 2, 3, 5}};
  EXPECT_EQ(prefix_keys(c, 3), prefix_keys(d, 3));
  EXPECT_NE(prefix_keys(c, 4), prefix_keys(d, 4));
  LlmPrompt e{.messages = {{"system", "s"}, {"user", "q1"}}}, f{.messages = {{"system", "s"}, {"user", "q2"}}};
  EXPECT_NE(prefix_keys(e, 4), prefix_keys(f, 4));  // 16 bytes reach the user message
  EXPECT_EQ(prefix_keys(e, 2), prefix_keys(f, 2));
}

TEST(ReplicaPool, TheLongestKnownPrefixDecides) {
  ReplicaPool p({"http://a/v1", "http://b/v1"}, quiet_pool());
  const auto x = p.acquire({1, 2});  // a prompt with a 2-level prefix
  const auto y = p.acquire({7});     // an unrelated one: the other replica
  ASSERT_NE(x->replica, y->replica);
  p.release(x->replica, ReplicaPool::Outcome::Ok, 0);
  p.release(y->replica, ReplicaPool::Outcome::Ok, 0);
  EXPECT_EQ(p.acquire({1, 3})->replica, x->replica);  // shares the shorter prefix only
  EXPECT_EQ(p.acquire({7, 8})->replica, y->replica);
}

TEST(PooledLlm, RefusedAndBusyReplicasAreRetriedElsewhere) {
  Replica a("A"), b("B"), c("C");
  auto llm = pool_of({a.base(), b.base(), c.base()});
  a.stop();  // refuses connections from now on
  c.mode = "busy";
  for (int i = 0; i < 6; ++i) {
    LlmResult r;
    EXPECT_EQ(drain(*llm->start(text_prompt("hi"), {}), &r), "B") << r.error;
    EXPECT_EQ(r.finish_reason, "stop");
  }
  const auto s = llm->pool().stats();
  EXPECT_GE(s[0].errors, 1u);
  EXPECT_EQ(s[0].state, CircuitBreaker::State::Open);  // refused: counts against its breaker
  EXPECT_GE(s[2].errors, 1u);
  EXPECT_EQ(s[2].state, CircuitBreaker::State::Closed);  // busy: not a fault
  EXPECT_EQ(s[1].requests, 6u);
  EXPECT_GE(llm->pool().retries(), 2u);
}

TEST(PooledLlm, NoReplicaLeftIsABackendErrorOrAnErrorResult) {
  Replica a("A");
  PoolOptions o = quiet_pool();
  o.retry_min = 0, o.retry_ratio = 0;  // no retries
  auto llm = pool_of({a.base()}, o);
  a.mode = "busy";
  LlmResult r;
  EXPECT_EQ(drain(*llm->start(text_prompt("hi"), {}), &r), "");
  EXPECT_EQ(r.finish_reason, "error");
  EXPECT_NE(r.error.find("no replica could serve"), std::string::npos) << r.error;
  a.stop();
  llm->pool().check_health();  // refused: open
  EXPECT_THROW(llm->start(text_prompt("hi"), {}), BackendError);  // a server answers 502
}

TEST(PooledLlm, ADyingReplicaEndsOnlyItsOwnStream) {
  Replica a("A"), b("B");
  auto llm = pool_of({a.base(), b.base()});
  b.mode = "hold";
  a.mode = "cut";
  auto on_a = llm->start(text_prompt("one"), {});  // ties go in turn from the first replica
  auto on_b = llm->start(text_prompt("two"), {});
  const auto s = llm->pool().stats();
  ASSERT_EQ(s[0].outstanding + s[1].outstanding, 2);
  LlmResult ra;
  const std::string text_a = drain(*on_a, &ra);
  // The cut one streamed a piece, then failed; the held one is not disturbed.
  EXPECT_EQ(text_a, "A");
  EXPECT_EQ(ra.finish_reason, "error");
  EXPECT_NE(ra.error.find("failed mid-stream"), std::string::npos) << ra.error;
  EXPECT_NE(ra.error.find(a.base()), std::string::npos) << ra.error;
  b.hold_released = true;
  LlmResult rb;
  EXPECT_EQ(drain(*on_b, &rb), "B");
  EXPECT_EQ(rb.finish_reason, "stop");
  EXPECT_EQ(a.completions, 1);  // a streamed request is never sent twice
}

TEST(PooledLlm, HealthChecksOpenAndCloseTheBreaker) {
  auto a = std::make_unique<Replica>("A");
  Replica b("B");
  const int port = a->port;
  PoolOptions o = quiet_pool();
  o.breaker.open_ms = 50;
  auto llm = pool_of({a->base(), b.base()}, o);
  a.reset();  // down
  llm->pool().check_health();
  EXPECT_EQ(llm->pool().stats()[0].state, CircuitBreaker::State::Open);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(drain(*llm->start(text_prompt("x"), {}), nullptr), "B");
  a = std::make_unique<Replica>("A", port);  // back on its port
  std::this_thread::sleep_for(60ms);
  llm->pool().check_health();  // the half-open probe passes
  EXPECT_EQ(llm->pool().stats()[0].state, CircuitBreaker::State::Closed);
  std::string seen;
  for (int i = 0; i < 2; ++i) seen += drain(*llm->start(text_prompt("x"), {}), nullptr);
  EXPECT_NE(seen.find('A'), std::string::npos) << seen;
  const std::string m = llm->metrics();
  EXPECT_NE(m.find("edgerag_replica_requests_total{backend=\"llm\",replica=\"" + b.base() + "\"} 4"), std::string::npos) << m;
  EXPECT_NE(m.find("edgerag_replica_up{backend=\"llm\",replica=\"" + a->base() + "\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("edgerag_replica_latency_seconds_count"), std::string::npos);
  EXPECT_NE(m.find("edgerag_replica_affinity_hits_total"), std::string::npos);
}

TEST(PooledLlm, AffinitySendsASharedPrefixToOneReplica) {
  Replica a("A"), b("B"), c("C");
  auto llm = pool_of({a.base(), b.base(), c.base()}, quiet_pool(), 8);  // 32 bytes of prefix
  const std::string system(64, 's');
  std::string first;
  for (int i = 0; i < 6; ++i) {
    const std::string got = drain(*llm->start(text_prompt(system + " question " + std::to_string(i)), {}), nullptr);
    if (first.empty()) first = got;
    EXPECT_EQ(got, first);
  }
  uint64_t hits = 0;
  for (const auto& s : llm->pool().stats()) hits += s.affinity_hits;
  EXPECT_EQ(hits, 5u);
  // Without affinity the same requests spread over the replicas.
  auto spread = pool_of({a.base(), b.base(), c.base()});
  std::string seen;
  for (int i = 0; i < 3; ++i) seen += drain(*spread->start(text_prompt(system + std::to_string(i)), {}), nullptr);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, "ABC");
}

TEST(PooledEncoders, EmbeddingsGoOnWhenAReplicaIsDown) {
  Replica a("A"), b("B");
  auto e = std::make_unique<RemoteEmbedder>(EncoderBackend{.base_url = a.base() + "," + b.base(), .pool = quiet_pool()});
  a.stop();
  for (int i = 0; i < 4; ++i) {
    const auto v = e->embed({"x", "y"}, false);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_FLOAT_EQ(v[1][0], 0.6f);  // normalized (3, 4)
  }
  b.stop();
  EXPECT_THROW(e->embed({"x"}, false), BackendError);  // nobody left: a clear error (a server answers 502)
}

TEST(PooledEncoders, EmbedderAddsTheLocalModelsRolePrefixes) {
  Replica a("A");
  // e5 models are recognised by name: the synthetic encoder under an e5 file name.
  const auto dir = std::filesystem::temp_directory_path() / ("edgerag-role-" + std::to_string(a.port));
  std::filesystem::create_directories(dir);
  const auto e5 = dir / "e5-small.gguf";
  std::filesystem::copy_file(test::model_path("synth-bert-embed.gguf"), e5,
                             std::filesystem::copy_options::overwrite_existing);
  {
    RemoteEmbedder e(EncoderBackend{.base_url = a.base(), .gguf = e5.string(), .pool = quiet_pool()});
    e.embed({"what is x"}, true);
    e.embed({"x is y"}, false);
    e.embed_counted({"as given"}, nullptr);  // the OpenAI endpoint's pass-through
    RemoteEmbedder plain(EncoderBackend{.base_url = a.base(), .gguf = test::model_path("synth-bert-embed.gguf"),
                                        .pool = quiet_pool()});
    plain.embed({"what is x"}, true);
  }
  std::filesystem::remove_all(dir);
  std::lock_guard lock(a.mu);
  // Each embedder first probes the dimension with one passage.
  EXPECT_EQ(a.embedded, (std::vector<std::string>{"passage: dimension probe", "query: what is x", "passage: x is y",
                                                  "as given", "dimension probe", "what is x"}));
}

TEST(ReplicaPool, RejectsMalformedUrlLists) {
  EXPECT_EQ(split_backend_urls("http://a:1/v1/,https://b/v1", "--x"), (std::vector<std::string>{"http://a:1/v1", "https://b/v1"}));
  EXPECT_THROW(split_backend_urls("http://a/v1,,http://b/v1", "--x"), Error);
  EXPECT_THROW(split_backend_urls("ftp://a", "--x"), Error);
  EXPECT_THROW(split_backend_urls("http://a/v1,http://a/v1", "--x"), Error);
  EXPECT_THROW(split_backend_urls("http://a/v1\"} 1\nfake 2", "--x"), Error);  // would forge /metrics lines
}

}  // namespace
}  // namespace edgerag::remote
