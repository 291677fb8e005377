// Drives the real server over loopback with the small shared models.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>

#include <cmath>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "loopback.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;

// Text of a streamed completion, read event by event.
std::string stream_text(const Running& r, const std::string& path, json body, std::string* finish = nullptr) {
  body["stream"] = true;
  auto c = r.client();
  auto res = c.Post(path.c_str(), httplib::Headers{}, body.dump(), "application/json");
  EXPECT_TRUE(res) << httplib::to_string(res.error());
  if (!res) return "";
  EXPECT_EQ(res->status, 200);
  bool done = false;
  std::string text;
  for (const json& j : sse_events(res->body, &done)) {
    const json& ch = j["choices"][0];
    if (ch.contains("delta") && ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (ch.contains("text")) text += ch["text"].get<std::string>();
    if (finish && !ch["finish_reason"].is_null()) *finish = ch["finish_reason"];
  }
  EXPECT_TRUE(done) << "stream did not end with [DONE]";
  return text;
}

std::string golden_greedy(const std::string& prompt) {
  json idx = json::parse(std::ifstream(test::golden_path("decoder/index.json")));
  for (const auto& run : idx["runs"])
    if (run["model_file"] == "models/stories260K.gguf" && run["config"] == "f32kv_nofa")
      for (const auto& p : run["prompts"])
        if (p["text"] == prompt) return p["greedy"]["text"];
  ADD_FAILURE() << "no golden for " << prompt;
  return "";
}

// Every body asked alone, then all at once as streams: each client gets the same text.
void expect_streams_equal_sequential(const Running& r, const std::vector<json>& bodies) {
  std::vector<std::string> sequential;
  auto c = r.client();
  for (const auto& b : bodies) sequential.push_back(post(c, "/v1/completions", b)["choices"][0]["text"]);
  std::vector<std::string> parallel(bodies.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < bodies.size(); ++i)
    threads.emplace_back([&, i] { parallel[i] = stream_text(r, "/v1/completions", bodies[i]); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < bodies.size(); ++i) EXPECT_EQ(parallel[i], sequential[i]) << "client " << i;
}

TEST(Server, GreedyCompletionMatchesLlamaCppAndStreamingMatches) {
  Running r(llm_only(), {});
  auto c = r.client();
  json body = {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", 32}, {"temperature", 0}};
  int status = 0;
  json out = post(c, "/v1/completions", body, &status);
  ASSERT_EQ(status, 200) << out.dump();
  EXPECT_EQ(out["object"], "text_completion");
  EXPECT_EQ(out["choices"][0]["text"], golden_greedy("Once upon a time"));
  EXPECT_EQ(out["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(out["usage"]["completion_tokens"], 32);
  std::string finish;
  EXPECT_EQ(stream_text(r, "/v1/completions", body, &finish), out["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(finish, "length");

  json chat = {{"model", "stories260K"}, {"messages", {{{"role", "user"}, {"content", "The little dog"}}}},
               {"max_tokens", 12}, {"temperature", 0}};
  json co = post(c, "/v1/chat/completions", chat, &status);
  ASSERT_EQ(status, 200) << co.dump();
  EXPECT_EQ(co["object"], "chat.completion");
  EXPECT_EQ(co["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(stream_text(r, "/v1/chat/completions", chat), co["choices"][0]["message"]["content"].get<std::string>());
  // A stop string ends the answer before it.
  body["stop"] = "Lily";
  out = post(c, "/v1/completions", body, &status);
  EXPECT_EQ(out["choices"][0]["text"], ", there was a little girl named ");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
}

TEST(Server, ConcurrentStreamsEqualSequentialGreedyOutput) {
  Running r(llm_only({.max_running = 32, .max_queued = 64, .step_tokens = 256, .prefill_chunk = 64}),
            {.connections = {.workers = 48}});
  const char* starts[] = {"Once upon a time", "The little dog", "Lily wanted to", "Tom and", "The sun", "One day"};
  std::vector<json> bodies;
  for (int i = 0; i < 32; ++i)
    bodies.push_back({{"model", "stories260K"},
                      {"prompt", std::string(starts[i % 6]) + (i >= 6 ? " and the cat" : "") + std::string(i / 12, '!')},
                      {"max_tokens", 16 + i % 8},
                      {"temperature", 0}});
  expect_streams_equal_sequential(r, bodies);
}

// The "edgerag" extension field turns speculation on per request: lookup
// drafts give the same greedy text, usage reports the drafts, /metrics counts
// them, and asking for a draft model the server does not have is a 400.
TEST(Server, SpeculativeRequestsGiveTheSameTextAndReportDrafts) {
  Running r(llm_only(), {});
  auto c = r.client();
  const std::string story = "Lily had a red ball. She liked to play with the red ball in the park. ";
  json body = {{"model", "stories260K"}, {"prompt", story + story + "Lily had"}, {"max_tokens", 48}, {"temperature", 0}};
  const json plain = post(c, "/v1/completions", body);
  EXPECT_EQ(plain["usage"]["edgerag"]["drafted"], 0);
  body["edgerag"] = {{"speculative", "lookup"}, {"draft_max", 4}};
  int status = 0;
  const json spec = post(c, "/v1/completions", body, &status);
  ASSERT_EQ(status, 200) << spec.dump();
  EXPECT_EQ(spec["choices"][0]["text"], plain["choices"][0]["text"]);
  const json& u = spec["usage"]["edgerag"];
  EXPECT_GT(u["drafted"].get<int>(), 0);
  EXPECT_GT(u["accepted"].get<int>(), 0);
  EXPECT_NEAR(u["acceptance_rate"].get<double>(), u["accepted"].get<double>() / u["drafted"].get<double>(), 1e-9);
  EXPECT_TRUE(r.metric_reaches("edgerag_draft_tokens", u["drafted"].get<double>()));
  EXPECT_EQ(r.metric("edgerag_draft_tokens_accepted"), u["accepted"].get<double>());
  body["edgerag"] = {{"speculative", "draft"}};
  json err = post(c, "/v1/completions", body, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(err["error"]["param"], "edgerag.speculative");
  body["edgerag"] = {{"speculative", "ngram"}};
  post(c, "/v1/completions", body, &status);
  EXPECT_EQ(status, 400);
}

// KIVI int8 KV through the scheduler: prefix sharing, partial blocks and batching
// give every client what it gets alone, and greedy text stays llama.cpp's.
TEST(Server, KiviInt8KvCacheServesConcurrentClientsLikeSequential) {
  Running r(llm_only({.max_running = 8, .max_queued = 16, .step_tokens = 128, .prefill_chunk = 32}, {},
                     KvType::kivi(8)),
            {.connections = {.workers = 12}});
  auto c = r.client();
  json first = {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", 32}, {"temperature", 0}};
  EXPECT_EQ(post(c, "/v1/completions", first)["choices"][0]["text"], golden_greedy("Once upon a time"));
  std::vector<json> bodies;
  for (int i = 0; i < 8; ++i)
    bodies.push_back({{"model", "stories260K"},
                      {"prompt", std::string("Once upon a time, there was a little bird who lived in a tall tree near a big "
                                             "river. Every morning the bird sang to the fish, and one day") +
                                 std::string(i, '!')},
                      {"max_tokens", 20 + i},
                      {"temperature", 0}});
  expect_streams_equal_sequential(r, bodies);
}

TEST(Server, BadRequestsGetOpenAiErrors) {
  ServerOptions opt;
  opt.connections.framing.max_body_bytes = 4096;
  opt.limits.max_tokens = 64;
  Running r(llm_only(), opt);
  auto c = r.client();
  auto expect_error = [&](const std::string& body, int want, const std::string& param) {
    auto res = c.Post("/v1/chat/completions", body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, want) << body;
    json j = json::parse(res->body);
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param) << body;
    }
  };
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  expect_error("{not json", 400, "");
  expect_error("[1,2]", 400, "");
  expect_error(R"({"model":"stories260K"})", 400, "messages");
  expect_error(R"({"model":"stories260K",)" + msgs + R"(,"temperature":"hot"})", 400, "temperature");
  expect_error(R"({"model":"stories260K",)" + msgs + R"(,"temperature":7})", 400, "temperature");
  expect_error(R"({"model":"stories260K",)" + msgs + R"(,"max_tokens":65})", 400, "max_tokens");
  expect_error(R"({"model":"stories260K",)" + msgs + R"(,"n":2})", 400, "n");
  expect_error(R"({"model":"stories260K","messages":[{"role":"wizard","content":"x"}]})", 400, "messages[0].role");
  expect_error(R"({"model":"gpt-4",)" + msgs + "}", 404, "model");
  expect_error(std::string(5000, ' '), 413, "");
  auto res = c.Post("/v1/completions", R"({"model":"stories260K","prompt":[1,2,99999]})", "application/json");
  EXPECT_EQ(res->status, 400);
  res = c.Post("/v1/completions", json{{"model", "stories260K"}, {"prompt", std::vector<int>(2100, 300)}}.dump(),
               "application/json");
  EXPECT_EQ(res->status, 413);  // the body limit applies first
  res = c.Get("/v1/nothing");
  EXPECT_EQ(res->status, 404);
  EXPECT_TRUE(json::parse(res->body).contains("error"));
}

TEST(Server, ContextOverflowAndApiKeys) {
  ServerOptions opt;
  opt.api_keys = {"secret-1", "secret-2"};
  Running r(llm_only(), opt);
  auto anon = r.client();
  auto res = anon.Get("/v1/models");
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(json::parse(res->body)["error"]["type"], "authentication_error");
  EXPECT_EQ(r.client("secret-3").Get("/v1/models")->status, 401);
  EXPECT_EQ(r.client("secret-").Get("/v1/models")->status, 401);
  EXPECT_EQ(anon.Get("/health")->status, 200);  // probes need no key
  auto c = r.client("secret-2");
  res = c.Get("/v1/models");
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["data"][0]["id"], "stories260K");
  int status = 0;
  json out = post(c, "/v1/completions", {{"model", "stories260K"}, {"prompt", std::vector<int>(2100, 300)}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(out["error"]["code"], "context_length_exceeded");
}

TEST(Server, ClientDisconnectCancelsGeneration) {
  Running r(llm_only(), {});
  auto c = r.client();
  int chunks = 0;
  json body = {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", 2000}, {"stream", true},
               {"temperature", 0.8}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
  c.send(req);
  // The server notices the closed socket at its next write and frees the sequence.
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (r.client().Get("/metrics")->body.find("edgerag_running_sequences 0\n") != std::string::npos) break;
  }
  auto m = r.client().Get("/metrics")->body;
  EXPECT_NE(m.find("edgerag_running_sequences 0\n"), std::string::npos) << m;
  EXPECT_NE(m.find("edgerag_ttft_seconds_count 1"), std::string::npos) << m;
  std::string line = m.substr(m.find("\nedgerag_generated_tokens ") + 1);
  EXPECT_LT(std::stoi(line.substr(line.find(' ') + 1)), 2000);
}

std::vector<float> unbase64(const std::string& s) {
  std::string raw(s.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  n -= static_cast<int>(std::count(s.end() - 2, s.end(), '='));
  std::vector<float> v(n / 4);
  std::memcpy(v.data(), raw.data(), v.size() * 4);
  return v;
}

// A ModernBERT embedder serves unchanged: /v1/embeddings of the golden inputs
// equals llama-embedding's vectors (golden/README.md §9) within 5e-4.
TEST(Server, ModernBertEmbeddingsMatchLlamaCpp) {
  Running r(load_models({.embed = test::model_path("synth-modernbert-embed.gguf")}, {}), {});
  auto c = r.client();
  const json task = json::parse(test::read_file(test::golden_path("embeddings-modernbert/index.json")))["tasks"][0];
  std::vector<std::string> texts;
  for (const auto& in : task["inputs"]) texts.push_back(in["text"]);
  int status = 0;
  json out = post(c, "/v1/embeddings", {{"model", "synth-modernbert-embed"}, {"input", texts}}, &status);
  ASSERT_EQ(status, 200) << out.dump();
  const auto& want = task["variants"]["default_batched"]["mean_l2norm"];
  ASSERT_EQ(out["data"].size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const auto got = out["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), want[i].size());
    for (size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], want[i][k].get<float>(), 5e-4) << i << "," << k;
  }
}

TEST(Server, EmbeddingsAndRerankMatchTheEncoder) {
  ModelPaths p{.embed = test::model_path("synth-bert-embed.gguf"), .rerank = test::model_path("synth-bert-rerank.gguf")};
  Running r(load_models(p, {}), {});
  auto c = r.client();
  auto ref = Encoder::load(p.embed);
  std::vector<std::string> texts = {"hello world", "the cat sat on the mat"};
  auto want = ref->embed(texts);
  int status = 0;
  json out = post(c, "/v1/embeddings", {{"model", "synth-bert-embed"}, {"input", texts}}, &status);
  ASSERT_EQ(status, 200) << out.dump();
  ASSERT_EQ(out["data"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    auto got = out["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), want[i].size());
    for (size_t k = 0; k < got.size(); ++k) EXPECT_FLOAT_EQ(got[k], want[i][k]);
  }
  json b64 = post(c, "/v1/embeddings", {{"model", "synth-bert-embed"}, {"input", "hello world"}, {"encoding_format", "base64"}});
  EXPECT_EQ(unbase64(b64["data"][0]["embedding"]), want[0]);
  EXPECT_GT(out["usage"]["prompt_tokens"].get<int>(), 0);

  auto rr = Encoder::load(p.rerank);
  std::vector<std::string> docs = {"a cat", "stock markets fell", "cats are small felines", "rain"};
  auto scores = rr->rerank("what is a cat", docs);
  json rk = post(c, "/v1/rerank", {{"model", "synth-bert-rerank"}, {"query", "what is a cat"}, {"documents", docs},
                                   {"top_n", 2}, {"return_documents", true}}, &status);
  ASSERT_EQ(status, 200) << rk.dump();
  ASSERT_EQ(rk["results"].size(), 2u);
  std::vector<size_t> order = {0, 1, 2, 3};
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  for (int i = 0; i < 2; ++i) {
    size_t idx = rk["results"][i]["index"];
    EXPECT_EQ(idx, order[i]);
    EXPECT_NEAR(rk["results"][i]["relevance_score"].get<double>(), 1 / (1 + std::exp(-scores[idx])), 1e-6);
    EXPECT_EQ(rk["results"][i]["document"]["text"], docs[idx]);
  }
  // TEI's raw_scores: the cross-encoder's own scores (what a front end's remote reranker asks for).
  json raw = post(c, "/v1/rerank", {{"query", "what is a cat"}, {"documents", docs}, {"raw_scores", true}}, &status);
  ASSERT_EQ(status, 200) << raw.dump();
  ASSERT_EQ(raw["results"].size(), 4u);
  for (const auto& x : raw["results"])
    EXPECT_FLOAT_EQ(x["relevance_score"].get<float>(), scores[x["index"].get<size_t>()]);
  // The LLM endpoints answer 404 on a server without an LLM.
  post(c, "/v1/chat/completions", {{"model", "x"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}, &status);
  EXPECT_EQ(status, 404);
  post(c, "/v1/embeddings", {{"model", "synth-bert-embed"}, {"input", json::array()}}, &status);
  EXPECT_EQ(status, 400);
}

}  // namespace
}  // namespace edgerag::server

namespace edgerag::server {
namespace {

TEST(Server, RagDocumentsAndQuery) {
  const auto dir = std::filesystem::temp_directory_path() / ("edgerag_srv_rag_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServedModels m;
  m.index_dir = dir.string();
  Running r(std::move(m), {});
  auto c = r.client();
  int status = 0;
  json docs = {{"collection", "notes"},
               {"documents",
                {{{"key", "wal"}, {"title", "SQLite WAL"},
                  {"text", "Write-ahead logging lets readers continue while a writer appends pages to the WAL file. "
                           "A checkpoint copies the WAL pages back into the database file."}},
                 {{"key", "cats"}, {"text", "Cats sleep for most of the day and hunt at dawn and dusk."}}}}};
  json rep = post(c, "/v1/documents", docs, &status);
  ASSERT_EQ(status, 200) << rep.dump();
  EXPECT_EQ(rep["added"], 2);
  json ans = post(c, "/v1/rag/query", {{"question", "What does a checkpoint copy back into the database?"}}, &status);
  ASSERT_EQ(status, 200) << ans.dump();
  EXPECT_FALSE(ans["answer"].get<std::string>().empty());
  ASSERT_FALSE(ans["citations"].empty()) << ans.dump();
  EXPECT_NE(ans["citations"][0].dump().find("wal"), std::string::npos) << ans.dump();
  EXPECT_TRUE(ans["timings_ms"].contains("search"));

  // Multipart upload of a file into another collection.
  httplib::MultipartFormDataItems items = {{"collection", "uploads", "", ""},
                                           {"file", "Rust ownership moves values between bindings.", "rust.txt", "text/plain"}};
  auto up = c.Post("/v1/documents", items);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200) << up->body;
  EXPECT_EQ(json::parse(up->body)["added"], 1);

  auto del = c.Delete("/v1/documents", json{{"collection", "notes"}, {"path", "cats"}}.dump(), "application/json");
  EXPECT_EQ(del->status, 200) << del->body;
  del = c.Delete("/v1/documents", json{{"collection", "notes"}, {"path", "cats"}}.dump(), "application/json");
  EXPECT_EQ(del->status, 404);
  post(c, "/v1/documents", {{"documents", {{{"text", "no key"}}}}}, &status);
  EXPECT_EQ(status, 400);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edgerag::server
