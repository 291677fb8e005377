// The server against hostile clients, byte for byte over raw sockets: slow and
// idle connections, connection floods, bad framing, oversized and chunked
// bodies, unauthenticated bodies, pipelining, deep JSON and huge prompts.
// Each case checks the status on the wire and that /health still answers
// within 1 s.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <thread>

#include "loopback.h"
#include "raw_client.h"
#include "sanitizer_scale.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using test::kSanitizerMemory;
using test::kSanitizerTime;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Peak resident memory of this process (kB), and its reset (Linux 4.0+).
long peak_rss_kb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

std::string post_head(const std::string& path, const std::string& extra) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + extra + "\r\n";
}

TEST(HostileHttp, SlowAndIdleClientsDoNotStarveHealth) {
  ServerOptions opt;
  opt.connections.header_timeout_s = 2;
  opt.connections.body_timeout_s = 2;
  Running r(llm_only(), opt);
  // 40 idle, 40 sending half a head, 40 sending half a body: 120 > the 64 workers.
  std::vector<std::unique_ptr<RawClient>> idle, slow_head, slow_body;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(std::make_unique<RawClient>(r.port));
    slow_head.push_back(std::make_unique<RawClient>(r.port));
    ASSERT_TRUE(slow_head.back()->send("POST /v1/completions HTTP/1.1\r\nHost: t\r\n"));
    slow_body.push_back(std::make_unique<RawClient>(r.port));
    ASSERT_TRUE(slow_body.back()->send(post_head("/v1/completions", "Content-Length: 1000\r\n") + "{\"model\":"));
  }
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(r.health_within_1s()) << "try " << i;
  EXPECT_GE(r.metric("edgerag_open_connections"), 120);
  // The deadlines end them: 408 for a started request, a plain close for an idle one.
  EXPECT_EQ(slow_head[0]->read_response(4000).status, 408);
  EXPECT_EQ(slow_body[0]->read_response(4000).status, 408);
  EXPECT_TRUE(idle[0]->closed_within(4000));
  bool all_timed_out = false;  // the 80 deadlines fall within a few ms of each other
  for (int i = 0; i < 100 && !all_timed_out; ++i) {
    all_timed_out = r.metric("edgerag_requests_timed_out") >= 80;
    if (!all_timed_out) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(all_timed_out);
  EXPECT_TRUE(r.health_within_1s());
}

// With `n` connections open (the cap), the next one gets 503 + Retry-After;
// once they close, the server answers again.
void expect_cap_refuses(ConnectionLimits limits, int n) {
  ServerOptions opt;
  opt.connections = limits;
  Running r(llm_only(), opt);
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < n; ++i) held.push_back(std::make_unique<RawClient>(r.port));
  RawClient over(r.port);
  RawResponse res = over.read_response();
  EXPECT_EQ(res.status, 503) << res.head;
  EXPECT_NE(res.head.find("Retry-After: 1"), std::string::npos);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "too_many_connections");
  held.clear();
  bool recovered = false;
  for (int i = 0; i < 100 && !recovered; ++i) {
    recovered = r.health_within_1s();
    if (!recovered) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(recovered);
  EXPECT_GE(r.metric("edgerag_connections_refused"), 1);
}

TEST(HostileHttp, ConnectionCapsPerClientAndInTotalAnswer503) {
  expect_cap_refuses({.max_connections_per_client = 4}, 4);
  expect_cap_refuses({.max_connections = 3}, 3);
}

TEST(HostileHttp, StrictFramingRejectsAmbiguousRequests) {
  Running r(llm_only(), {});
  const std::string body = R"({"model":"stories260K","prompt":"Once","max_tokens":2})";
  const std::string n = std::to_string(body.size());
  const std::vector<std::pair<std::string, int>> cases = {
      {post_head("/v1/completions", "Content-Length: " + n + "\r\nContent-Length: 3\r\n") + body, 400},
      {post_head("/v1/completions", "Content-Length: -1\r\n"), 400},
      {post_head("/v1/completions", "Content-Length: 1e3\r\n"), 400},
      {post_head("/v1/completions", "Transfer-Encoding: gzip\r\n"), 501},
      {post_head("/v1/completions", "Transfer-Encoding: chunked, chunked\r\n"), 400},
      {post_head("/v1/completions", "Transfer-Encoding: chunked\r\nContent-Length: " + n + "\r\n"), 400},
      {post_head("/v1/completions", "Transfer-Encoding: \x01\r\n"), 400},
      {post_head("/v1/completions", "Content-Encoding: gzip\r\nContent-Length: " + n + "\r\n") + body, 415},
      {post_head("/v1/completions", "Expect: teapot\r\n"), 417},
      {"GET /health HTTP/1.1\nHost: t\n\n", 400},
      {"GET /health HTTP/2.0\r\n\r\n", 505},
      {"GET /health HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
      {"GET /health HTTP/1.1\r\n folded: x\r\n\r\n", 400},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", 414},
      {"GET /health HTTP/1.1\r\nX: " + std::string(70000, 'a') + "\r\n\r\n", 431},
      {post_head("/v1/completions", "Transfer-Encoding: chunked\r\n") + "zz\r\n", 400},
      {post_head("/v1/completions", "Transfer-Encoding: chunked\r\n") + "3\r\nabcdef\r\n", 400},
  };
  for (const auto& [raw, want] : cases) {
    RawClient c(r.port);
    ASSERT_TRUE(c.send(raw));
    RawResponse res = c.read_response();
    EXPECT_EQ(res.status, want) << raw.substr(0, 120);
    if (res.status) {
      json j = json::parse(res.body, nullptr, false);
      EXPECT_TRUE(j.contains("error")) << res.body;
      EXPECT_NE(res.head.find("Connection: close"), std::string::npos);
    }
    EXPECT_TRUE(c.closed_within(3000));
  }
  EXPECT_TRUE(r.health_within_1s());
}

TEST(HostileHttp, ChunkedBodiesAreBoundedAndAuthComesBeforeAnyBody) {
  ServerOptions opt;
  opt.connections.framing.max_body_bytes = 4096;
  opt.api_keys = {"sekrit"};
  Running r(llm_only(), opt);
  const std::string auth = "Authorization: Bearer sekrit\r\n";
  // A chunk announced past the limit is refused before its data is sent.
  {
    RawClient c(r.port);
    ASSERT_TRUE(c.send(post_head("/v1/completions", auth + "Transfer-Encoding: chunked\r\n") + "10000000\r\n"));
    EXPECT_EQ(c.read_response().status, 413);
  }
  // Many small chunks that add up past the limit.
  {
    RawClient c(r.port);
    ASSERT_TRUE(c.send(post_head("/v1/completions", auth + "Transfer-Encoding: chunked\r\n")));
    const std::string chunk = "400\r\n" + std::string(1024, ' ') + "\r\n";
    for (int i = 0; i < 5; ++i) c.send(chunk);
    EXPECT_EQ(c.read_response().status, 413);
  }
  // A valid chunked request with the key is served.
  {
    RawClient c(r.port);
    const std::string body = R"({"model":"stories260K","prompt":"Once","max_tokens":2})";
    ASSERT_TRUE(c.send(post_head("/v1/completions", auth + "Transfer-Encoding: chunked\r\n") +
                       fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body)));
    RawResponse res = c.read_response();
    EXPECT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(json::parse(res.body)["usage"]["completion_tokens"], 2);
  }
  // Without the key: 401 from the head alone, no body byte sent (chunked, a
  // huge Content-Length, or a %-encoded path that routes to /v1/).
  for (const std::string& head : {post_head("/v1/completions", "Transfer-Encoding: chunked\r\n"),
                                  post_head("/v1/completions", "Content-Length: 4000\r\n"),
                                  post_head("/%761/completions", "Content-Length: 4000\r\n"),
                                  post_head("/v1/completions", "Authorization: Bearer wrong\r\nContent-Length: 10\r\n")}) {
    RawClient c(r.port);
    ASSERT_TRUE(c.send(head));
    RawResponse res = c.read_response();
    EXPECT_EQ(res.status, 401) << head;
    EXPECT_EQ(json::parse(res.body)["error"]["code"], "invalid_api_key");
  }
  EXPECT_TRUE(r.health_within_1s());
}

TEST(HostileHttp, PipelinedRequestsAreAnsweredInOrder) {
  Running r(llm_only(), {});
  RawClient c(r.port);
  const std::string body = R"({"model":"stories260K","prompt":"Once upon a time","max_tokens":3,"temperature":0})";
  ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n" +
                     post_head("/v1/completions", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body +
                     "GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\nGET /nothing HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawResponse a = c.read_response(), b = c.read_response(), m = c.read_response(), d = c.read_response();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(json::parse(a.body)["status"], "ok");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(json::parse(b.body)["usage"]["completion_tokens"], 3);
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(json::parse(m.body)["object"], "list");
  EXPECT_EQ(d.status, 404);
  // A request asking to close, with another pipelined behind it: answered,
  // closed, and the dropped bytes leave no trace in the server's accounting.
  for (int i = 0; i < 3; ++i) {
    RawClient x(r.port);
    ASSERT_TRUE(x.send("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /health HTTP/1.1\r\nX-Pad: " +
                       std::string(2000, 'p') + "\r\n\r\n"));
    EXPECT_EQ(x.read_response().status, 200);
    EXPECT_TRUE(x.closed_within(3000));
  }
  EXPECT_TRUE(r.health_within_1s());
  // Expect: 100-continue is answered once, before the body is sent.
  RawClient e(r.port);
  ASSERT_TRUE(e.send(post_head("/v1/completions", "Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n")));
  EXPECT_EQ(e.read_response().status, 100);
  ASSERT_TRUE(e.send(body));
  RawResponse f = e.read_response();
  EXPECT_EQ(f.status, 200) << f.head;
  EXPECT_EQ(json::parse(f.body)["usage"]["completion_tokens"], 3);
}

TEST(HostileHttp, DeepJsonAndHugePromptsAreFastCheap400s) {
  Running r(llm_only(), {});
  // Four 16 MB bodies of nested '[' at once: before the bounds this peaked at 2.86 GB.
  const std::string nested(16'000'000, '[');
  reset_peak_rss();
  const long before = peak_rss_kb();
  std::vector<std::thread> threads;
  std::vector<int> statuses(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      RawClient c(r.port);
      c.send(post_head("/v1/chat/completions", "Content-Length: " + std::to_string(nested.size()) + "\r\n"));
      c.send(nested);
      statuses[i] = c.read_response(20000).status;
    });
  for (auto& t : threads) t.join();
  const long grown_mb = (peak_rss_kb() - before) / 1024;
  for (int s : statuses) EXPECT_EQ(s, 400);
  // A request's bytes are held a few times over during its handoff (as
  // received, httplib's body and its reallocation while it grows): 4 x 5 x 16 MB.
  EXPECT_LT(grown_mb, 320 * kSanitizerMemory) << "peak RSS grew by " << grown_mb << " MB";
  std::printf("four 16 MB nested-JSON bodies: peak RSS +%ld MB\n", grown_mb);

  // A 15 MB prompt is refused on its byte length, before any tokenizing
  // (which took 10.7 s); the bound leaves room for a loaded CI machine.
  const std::string big = json{{"model", "stories260K"}, {"prompt", std::string(15'000'000, 'a')}, {"max_tokens", 1}}.dump();
  auto c = r.client();
  const auto t0 = Clock::now();
  auto res = c.Post("/v1/completions", big, "application/json");
  const double took = seconds_since(t0);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "context_length_exceeded");
  EXPECT_LT(took, 2.0 * kSanitizerTime);  // tokenizing it took 10.7 s (x10 under sanitizers)
  EXPECT_TRUE(r.health_within_1s());
}

TEST(HostileHttp, TokenIdsAreRangeCheckedNeverWrapped) {
  Running r(llm_only(), {});
  auto expect_400 = [&](const json& extra, const std::string& param, const std::string& text) {
    json body = {{"model", "stories260K"}, {"prompt", {1, 2}}, {"max_tokens", 1}};
    body.update(extra);
    int status = 0;
    json out = post(r.client(), "/v1/completions", body, &status);
    EXPECT_EQ(status, 400) << body.dump();
    EXPECT_EQ(out["error"]["param"], param) << out.dump();
    EXPECT_NE(out["error"]["message"].get<std::string>().find(text), std::string::npos) << out.dump();
  };
  expect_400({{"prompt", {json(4294967301ull)}}}, "prompt", "4294967301");  // would wrap to 5
  expect_400({{"prompt", {-1}}}, "prompt", "-1");
  expect_400({{"prompt", {json(18446744073709551615ull)}}}, "prompt", "out of range");
  expect_400({{"logit_bias", {{"4294967301", 1}}}}, "logit_bias", "4294967301");
  expect_400({{"logit_bias", {{"5", 1000}}}}, "logit_bias", "between");
  expect_400({{"logit_bias", {{"999999", 1}}}}, "logit_bias", "outside the vocabulary");
  int status = 0;
  json ok = post(r.client(), "/v1/completions",
                 {{"model", "stories260K"}, {"prompt", {1, 5}}, {"max_tokens", 1}, {"logit_bias", {{"5", -100}}}}, &status);
  EXPECT_EQ(status, 200) << ok.dump();
}

TEST(HostileHttp, WrongJsonTypesOnDocumentsAre400NotInternal) {
  const auto dir = std::filesystem::temp_directory_path() / ("edgerag_hostile_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServedModels m;
  m.index_dir = dir.string();
  Running r(std::move(m), {});
  for (const json& body : {json{{"collection", 5}, {"documents", {{{"key", "a"}, {"text", "b"}}}}},
                           json{{"documents", {{{"key", "a"}, {"text", "b"}, {"title", 7}}}}}}) {
    int status = 0;
    json out = post(r.client(), "/v1/documents", body, &status);
    EXPECT_EQ(status, 400) << body.dump() << " -> " << out.dump();
    EXPECT_EQ(out["error"]["type"], "invalid_request_error");
    EXPECT_EQ(out["error"]["message"].get<std::string>().find("json.exception"), std::string::npos) << out.dump();
  }
  auto del = r.client().Delete("/v1/documents", json{{"collection", "default"}, {"path", 7}}.dump(), "application/json");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 400) << del->body;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edgerag::server
