// Bounds of a RAG request: the question's size in bytes (before anything) and
// in tokens (before retrieval), the rerank candidate cap; and queries on their
// own reader engines, so a slow query does not hold up a concurrent one; a
// slow rerank stopped at the request timeout with a 504 while another query is
// served. (The deadline through retrieval: AnswerTest.QueryBoundsAndDeadline in tests/rag.)
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "loopback.h"
#include "sanitizer_scale.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;

// n documents that all match "llama", ~60 words each.
json llama_docs(int n) {
  json docs = json::array();
  for (int i = 0; i < n; ++i) {
    std::string text = fmt::format("Document {} about the llama herd. ", i);
    for (int w = 0; w < 8; ++w) text += fmt::format("The llama number {} grazes on hill {} near the river. ", i, w);
    docs.push_back({{"key", fmt::format("doc{}", i)}, {"text", text}});
  }
  return docs;
}

void ingest(const Running& r, const json& docs) {
  int status = 0;
  json rep = post(r.client(), "/v1/documents", {{"collection", "herd"}, {"documents", docs}}, &status);
  ASSERT_EQ(status, 200) << rep.dump();
}

TEST(RagBounds, QuestionSizeTokensAndRerankTop) {
  TempFolder dir("edgerag_rag_bounds");
  ServerOptions opt;
  opt.rag.max_question_tokens = 12;
  ServedModels m = llm_only();
  m.index_dir = dir.path.string();
  Running r(std::move(m), opt);
  ingest(r, llama_docs(4));
  int status = 0;
  // 1 MB: refused on its size before it is tokenized or anything is retrieved.
  const auto t0 = std::chrono::steady_clock::now();
  json e = post(r.client(), "/v1/rag/query", {{"question", std::string(1 << 20, 'a')}}, &status);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(status, 400) << e.dump();
  EXPECT_EQ(e["error"]["param"], "question");
  EXPECT_LT(s, 5.0 * test::kSanitizerTime);  // a sanity bound (it used to take 14.5 s), not a speed target
  e = post(r.client(), "/v1/rag/query", {{"question", std::string(opt.rag.max_question_bytes + 1, 'a')}}, &status);
  EXPECT_EQ(status, 400);
  // Within the bytes, over the tokens.
  e = post(r.client(), "/v1/rag/query",
           {{"question", "Where does the llama number three graze on the hill near the river every day?"}}, &status);
  EXPECT_EQ(status, 400) << e.dump();
  EXPECT_NE(e["error"]["message"].get<std::string>().find("tokens"), std::string::npos) << e.dump();
  e = post(r.client(), "/v1/rag/query",
           {{"question", "llama?"}, {"config", {{"generation", {{"max_tokens", 4}}}}}}, &status);
  EXPECT_EQ(status, 200) << e.dump();
  // rerank_top above the server's cap.
  e = post(r.client(), "/v1/rag/query",
           {{"question", "llama?"}, {"config", {{"retrieval", {{"rerank_top", opt.rag.max_rerank_top + 1}}}}}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(e["error"]["param"], "config");
}

// A server whose reranker rescores up to kCandidates candidates: a query that asks
// for all of them is slow, one without reranking is not. Sanitizer builds run ~10x
// slower, so they rescore fewer (the slow query still takes seconds).
constexpr int kCandidates = static_cast<int>(1000 / test::kSanitizerTime);

struct RerankServer {
  TempFolder dir{"edgerag_rag_bounds_rerank"};
  Running r;
  explicit RerankServer(ServerOptions o = {}) : r(models(dir.path.string()), with_cap(o)) {
    ingest(r, llama_docs(1000));
  }
  static ServedModels models(const std::string& index_dir) {
    ServedModels m;
    m.index_dir = index_dir;
    m.rerank_path = test::model_path("synth-bert-rerank.gguf");
    return m;
  }
  static ServerOptions with_cap(ServerOptions o) {
    o.rag.max_rerank_top = kCandidates;
    return o;
  }
  json ask(bool rerank, int* status) const {
    const json cfg = {{"retrieval", {{"rerank", rerank ? "on" : "off"}, {"rerank_top", kCandidates}, {"bm25_depth", kCandidates}}}};
    httplib::Client c = r.client();
    c.set_read_timeout(300, 0);  // the slow query under a sanitizer on a busy machine
    return post(c, "/v1/rag/query", {{"question", "Which llama grazes near the river?"}, {"config", cfg}}, status);
  }
};

TEST(RagBounds, SlowQueryDoesNotBlockAnother) {
  RerankServer s;
  std::atomic<bool> slow_done{false};
  int slow_status = 0;
  std::thread slow([&] {
    json a = s.ask(true, &slow_status);  // kCandidates cross-encoder passes
    EXPECT_TRUE(a.is_object() && a.value("reranked", false)) << a.dump().substr(0, 300);
    slow_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the slow query is reranking
  int status = 0;
  json fast = s.ask(false, &status);
  EXPECT_EQ(status, 200) << fast.dump().substr(0, 300);
  EXPECT_FALSE(fast.value("reranked", true));
  // Nor does an upload, and /health answers.
  json up = post(s.r.client(), "/v1/documents",
                 {{"collection", "herd"}, {"documents", {{{"key", "late"}, {"text", "A late llama."}}}}}, &status);
  EXPECT_EQ(status, 200) << up.dump();
  EXPECT_TRUE(s.r.health_within_1s());
  EXPECT_FALSE(slow_done.load()) << "the fast query or the upload waited for the slow one";
  slow.join();
  EXPECT_EQ(slow_status, 200);
}

// The request timeout reaches inside the rerank: the slow query is stopped
// within one encoder layer of it (504), and a query started meanwhile is served.
TEST(RagBounds, SlowRerankGets504AtTheTimeout) {
  ServerOptions o;
  o.request_timeout_s = 1;
  RerankServer s(o);
  int slow_status = 0;
  double slow_s = 0;
  json slow_answer;
  std::thread slow([&] {
    const auto t0 = std::chrono::steady_clock::now();
    slow_answer = s.ask(true, &slow_status);
    slow_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the slow query is reranking
  int status = 0;
  json fast = s.ask(false, &status);
  EXPECT_EQ(status, 200) << fast.dump().substr(0, 300);
  EXPECT_TRUE(s.r.health_within_1s());
  slow.join();
  EXPECT_EQ(slow_status, 504) << slow_answer.dump().substr(0, 300);
  EXPECT_EQ(slow_answer["error"]["code"], "timeout") << slow_answer.dump().substr(0, 300);
  // The timeout plus one encoder layer and the answer's way back; it used to run to the end.
  EXPECT_LT(slow_s, o.request_timeout_s + 1.0 * test::kSanitizerTime) << "seconds";
  std::printf("slow rerank answered %d after %.2f s (timeout %d s)\n", slow_status, slow_s, o.request_timeout_s);
}

}  // namespace
}  // namespace edgerag::server
