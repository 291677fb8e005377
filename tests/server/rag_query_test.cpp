// POST /v1/rag/query generating through the server's batching scheduler: the
// same answers concurrently as sequentially and as `edgerag ask`'s engine, and
// citations that resolve to the provenance of the supplied chunks.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "loopback.h"
#include "format/gguf.h"
#include "rag/answer.h"
#include "tokenizer/tokenizer.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;
namespace fs = std::filesystem;

const json kDocs = {
    {{"key", "wal"},
     {"title", "SQLite WAL"},
     {"text", "Write-ahead logging lets readers continue while a writer appends pages to the WAL file. "
              "A checkpoint copies the WAL pages back into the database file."}},
    {{"key", "cats"}, {"text", "Cats sleep for most of the day and hunt at dawn and dusk."}},
    {{"key", "garden"}, {"text", "Lily and Tim planted tomatoes in the garden. The tomatoes grew red in the sun."}},
    {{"key", "boat"}, {"text", "The little boat sailed across the lake. Tom waved at the fish from the boat."}},
};

const std::vector<std::string> kQuestions = {
    "What does a checkpoint copy back into the database?", "When do cats hunt?", "What did Lily and Tim plant?",
    "Who waved at the fish?", "What do readers do while a writer appends pages?", "Where did the little boat sail?",
};

const json kConfig = {{"generation", {{"max_tokens", 16}}}};

// A fresh index folder, removed afterwards.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("edgerag_rag_query_" + std::to_string(::getpid()));
  TempDir() { fs::remove_all(path); }
  ~TempDir() { fs::remove_all(path); }
};

// Serves stories260K and an index holding kDocs.
struct RagServer {
  TempDir dir;
  Running r;
  explicit RagServer(ServerOptions opt = {}, std::chrono::milliseconds pause = {}, bool prefix_cache = true)
      : r(models(dir.path.string(), pause, prefix_cache), opt) {
    int status = 0;
    json rep = post(r.client(), "/v1/documents", {{"collection", "notes"}, {"documents", kDocs}}, &status);
    EXPECT_EQ(status, 200) << rep.dump();
  }
  static ServedModels models(const std::string& index_dir, std::chrono::milliseconds pause, bool prefix_cache = true) {
    ServedModels m = llm_only(
        {.max_running = 8, .max_queued = 64, .step_tokens = 256, .prefill_chunk = 64, .prefix_cache = prefix_cache},
        pause);
    m.index_dir = index_dir;
    return m;
  }
  json ask(const std::string& question, int* status) const {
    return post(r.client(), "/v1/rag/query", {{"question", question}, {"config", kConfig}}, status);
  }
};

// The parts of an answer that must not depend on batching.
json outcome(const json& a) {
  return {{"answer", a["answer"]}, {"citations", a["citations"]}, {"tokens", a["tokens"]},
          {"stop_reason", a["stop_reason"]}, {"context_chunks", a["context_chunks"]}};
}

void expect_citations_match_documents(const json& a) {
  for (const json& c : a["citations"]) {
    EXPECT_GE(c["n"].get<int>(), 1);
    EXPECT_LE(c["n"].get<int>(), a["context_chunks"].get<int>());
    const json* doc = nullptr;
    for (const json& d : kDocs)
      if (d["key"] == c["file"]) doc = &d;
    ASSERT_NE(doc, nullptr) << c.dump();
    const std::string text = (*doc)["text"];
    const int b = c["byte_start"], e = c["byte_end"];
    ASSERT_LE(e, static_cast<int>(text.size()));
    EXPECT_NE(c["text"].get<std::string>().find(text.substr(b, e - b).substr(0, 20)), std::string::npos) << c.dump();
  }
}

TEST(RagQuery, ConcurrentQueriesEqualSequentialOnesAndTheAskEngine) {
  RagServer s;
  std::vector<json> sequential;
  for (const auto& q : kQuestions) {
    int status = 0;
    json a = s.ask(q, &status);
    ASSERT_EQ(status, 200) << a.dump();
    EXPECT_EQ(a["object"], "rag.answer");
    EXPECT_EQ(a["mode"], "generative");
    EXPECT_GE(a["tokens"]["answer"].get<int>(), 1);
    EXPECT_LE(a["tokens"]["answer"].get<int>(), 16);
    EXPECT_GT(a["tokens"]["prompt"].get<int>(), a["tokens"]["context"].get<int>());
    for (const char* stage : {"search", "prompt", "prefill", "decode", "total"})
      EXPECT_GT(a["timings_ms"][stage].get<double>(), 0.0) << stage;
    expect_citations_match_documents(a);
    sequential.push_back(a);
  }
  // Generation ran on the scheduler: one admitted request per question.
  EXPECT_EQ(s.r.metric("edgerag_requests_admitted_total"), double(kQuestions.size()));

  // Three rounds of every question at once.
  const size_t n = 3 * kQuestions.size();
  std::vector<json> parallel(n);
  std::vector<int> statuses(n);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < n; ++i)
    ts.emplace_back([&, i] { parallel[i] = s.ask(kQuestions[i % kQuestions.size()], &statuses[i]); });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(statuses[i], 200) << parallel[i].dump();
    EXPECT_EQ(outcome(parallel[i]), outcome(sequential[i % kQuestions.size()])) << "query " << i;
  }
  EXPECT_GT(s.r.metric("edgerag_prompt_tokens_cached_total"), 0);  // the shared system prompt was reused

  // `edgerag ask`'s engine (its own generator) gives the same answers.
  auto engine = rag::AnswerEngine::open(
      {.index_dir = s.dir.path.string(), .llm = test::model_path("stories260K.gguf"), .n_threads = 1});
  rag::AnswerConfig cfg;
  rag::apply_json(cfg, kConfig);
  for (size_t i = 0; i < kQuestions.size(); ++i) {
    rag::Answer a = engine->answer(kQuestions[i], cfg);
    EXPECT_EQ(a.text, sequential[i]["answer"]) << kQuestions[i];
    EXPECT_EQ(a.tokens.prompt, sequential[i]["tokens"]["prompt"]) << kQuestions[i];
  }
}

// Chunk KV reuse per request: in chunks mode questions retrieving the same
// chunks reuse their KV from the store (a repeated prompt is mostly a
// prefix-cache hit instead), and /metrics and the answer count it.
TEST(RagQuery, ChunkKvReusePerRequest) {
  RagServer s;
  json chunks = kConfig;
  chunks["prompt"] = {{"kv_reuse", "chunks"}, {"recompute_share", 0.2}};
  int hits = 0;
  for (const auto& q : kQuestions) {
    int status = 0;
    const json blended = post(s.r.client(), "/v1/rag/query", {{"question", q}, {"config", chunks}}, &status);
    ASSERT_EQ(status, 200) << blended.dump();
    hits += blended["kv_reuse"]["chunk_hits"].get<int>();
  }
  EXPECT_GT(hits, 0);
  EXPECT_EQ(s.r.metric("edgerag_kv_chunk_hits"), hits);
  EXPECT_GT(s.r.metric("edgerag_kv_chunk_tokens_reused"), 0);
}

// chunks-exact equals a full prefill of its own prompt. A reuse mode's prompt
// tokenizes each chunk on its own (isolated prompt parts), so it is not prefix
// mode's prompt and the reference is the same request computed cold: without a
// prefix cache the first request computes its chunks in context (a miss: the
// whole prompt in one prefill) and stores them, the second places every chunk
// from the store. The last two questions retrieve the first and fourth ones'
// chunk under the same preceding prompt, so they hit even cold.
TEST(RagQuery, ChunksExactEqualsAFullPrefillOfItsPrompt) {
  RagServer s({}, {}, /*prefix_cache=*/false);
  json exact = kConfig;
  exact["prompt"] = {{"kv_reuse", "chunks-exact"}};
  int cold_hits = 0;
  for (const auto& q : kQuestions) {
    int status = 0;
    const json cold = post(s.r.client(), "/v1/rag/query", {{"question", q}, {"config", exact}}, &status);
    ASSERT_EQ(status, 200) << cold.dump();
    const json warm = post(s.r.client(), "/v1/rag/query", {{"question", q}, {"config", exact}}, &status);
    ASSERT_EQ(status, 200) << warm.dump();
    const int placed = warm["context_chunks"];
    ASSERT_GE(placed, 1) << q;
    cold_hits += cold["kv_reuse"]["chunk_hits"].get<int>();
    EXPECT_EQ(cold["kv_reuse"]["chunk_hits"].get<int>() + cold["kv_reuse"]["chunk_misses"].get<int>(), placed) << q;
    EXPECT_EQ(warm["kv_reuse"]["chunk_hits"], placed) << q;
    EXPECT_EQ(warm["kv_reuse"]["chunk_misses"], 0) << q;
    EXPECT_EQ(outcome(warm), outcome(cold)) << q;
  }
  EXPECT_EQ(cold_hits, 2);
}

TEST(RagQuery, StreamingSendsDeltasThenTheAnswer) {
  RagServer s;
  int status = 0;
  json whole = s.ask(kQuestions[0], &status);
  ASSERT_EQ(status, 200);
  auto res = s.r.client().Post(
      "/v1/rag/query", json{{"question", kQuestions[0]}, {"config", kConfig}, {"stream", true}}.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  bool done = false;
  auto events = sse_events(res->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 2u);
  std::string streamed;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i]["object"], "rag.answer.delta");
    streamed += events[i]["delta"].get<std::string>();
  }
  EXPECT_EQ(events.back()["object"], "rag.answer");
  EXPECT_EQ(outcome(events.back()), outcome(whole));
  EXPECT_NE(streamed.find(whole["answer"].get<std::string>()), std::string::npos) << streamed;
}

TEST(RagQuery, CitationsOfGeneratedTextResolveToProvenance) {
  RagServer s;
  // The server's two halves around generation, with a generated text that cites.
  auto engine = rag::AnswerEngine::open({.index_dir = s.dir.path.string()});
  auto gguf = GgufFile::open(test::model_path("stories260K.gguf"));
  auto tok = Tokenizer::from_gguf(*gguf);
  rag::PromptTarget target = rag::PromptTarget::of(*tok, ChatFormat::Plain, 2048);
  rag::AnswerConfig cfg;
  cfg.max_chunks = 2;
  rag::PreparedAnswer p = engine->prepare("What do a checkpoint and cats do?", cfg, &target);
  ASSERT_TRUE(p.generative());
  ASSERT_EQ(p.answer.context.size(), 2u);
  EXPECT_NE(p.prompt.find("[2]"), std::string::npos);
  const auto context = p.answer.context;
  rag::Answer a = rag::finish_answer(std::move(p), {.text = "  The WAL pages [2], copied by a checkpoint [1]. Also [7].\n",
                                                    .stop_reason = "length",
                                                    .n_prompt = 100,
                                                    .n_answer = 12});
  EXPECT_EQ(a.text.rfind("The WAL pages [2], copied by a checkpoint [1].", 0), 0u) << a.text;  // trimmed
  EXPECT_EQ(a.text.find("[7]"), std::string::npos) << a.text;
  EXPECT_EQ(a.removed_citations, 1);
  ASSERT_EQ(a.citations.size(), 2u);
  EXPECT_EQ(a.citations[0].n, 2);
  EXPECT_EQ(a.citations[0].chunk.chunk_id, context[1].chunk_id);
  EXPECT_EQ(a.citations[1].n, 1);
  EXPECT_EQ(a.citations[1].chunk.chunk_id, context[0].chunk_id);
  json j = rag::to_json(a);
  EXPECT_EQ(j["citations"][0]["file"], context[1].provenance.path);
  EXPECT_EQ(j["citations"][1]["file"], context[0].provenance.path);
  EXPECT_EQ(j["citations"][1]["byte_end"], context[0].provenance.byte_end);
  expect_citations_match_documents(j);
  EXPECT_EQ(j["tokens"]["answer"], 12);
}

TEST(RagQuery, TimeoutEndsTheQueryAndFreesItsBlocks) {
  ServerOptions opt;
  opt.request_timeout_s = 1;
  RagServer s(opt, std::chrono::milliseconds(50));  // 100 tokens take at least 5 s
  int status = 0;
  json e = post(s.r.client(), "/v1/rag/query",
                {{"question", kQuestions[0]}, {"config", {{"generation", {{"max_tokens", 100}}}}}}, &status);
  EXPECT_EQ(status, 504) << e.dump();
  EXPECT_EQ(e["error"]["code"], "timeout");
  EXPECT_EQ(s.r.metric("edgerag_requests_cancelled_total"), 1);
  EXPECT_TRUE(s.r.metric_reaches("edgerag_running_sequences", 0));
  // What stays in use is only what the prefix cache holds.
  EXPECT_TRUE(s.r.metric_reaches("edgerag_kv_blocks_used", s.r.metric("edgerag_prefix_cache_entries")));
}

TEST(RagQuery, BadRequests) {
  ServerOptions opt;
  opt.limits.max_tokens = 64;
  RagServer s(opt);
  int status = 0;
  json e = post(s.r.client(), "/v1/rag/query", {{"question", "cats"}, {"config", {{"generation", {{"max_tokens", 65}}}}}},
                &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(e["error"]["param"], "config");
  for (const json& body : {json{{"config", kConfig}}, json{{"question", 7}}, json{{"question", "cats"}, {"stream", "yes"}}}) {
    e = post(s.r.client(), "/v1/rag/query", body, &status);
    EXPECT_EQ(status, 400) << body.dump();
    EXPECT_TRUE(e["error"]["param"].is_string()) << e.dump();
  }
  post(s.r.client(), "/v1/rag/query", {{"question", "cats"}, {"config", {{"generation", {{"max_tokens", 2048}}}}}},
       &status);
  EXPECT_EQ(status, 400);  // over the request limit before anything runs
  e = post(s.r.client(), "/v1/rag/query",
           {{"question", "cats"}, {"config", {{"adaptive", {{"hyde", "on"}, {"hyde_max_tokens", 65}}}}}}, &status);
  EXPECT_EQ(status, 400);  // HyDE's passage has the same limit
  EXPECT_EQ(e["error"]["param"], "config");
}

// "debug": true (only with --debug-prompt) returns the prompt the model was
// given as token ids and pieces; they decode to a prompt holding the question
// and the retrieved text, with the vocabulary's control tokens only where the
// prompt format puts them (stories260K's plain format: the BOS).
TEST(RagQuery, DebugReturnsThePromptTokens) {
  ServerOptions opt;
  opt.rag.debug_prompt = true;
  RagServer s(opt);
  int status = 0;
  json a = post(s.r.client(), "/v1/rag/query", {{"question", kQuestions[1]}, {"config", kConfig}, {"debug", true}}, &status);
  ASSERT_EQ(status, 200) << a.dump();
  const auto ids = a["debug"]["prompt_ids"].get<std::vector<int32_t>>();
  const json& pieces = a["debug"]["prompt_pieces"];
  ASSERT_EQ(pieces.size(), ids.size());
  EXPECT_EQ(ids.size(), a["tokens"]["prompt"].get<size_t>()) << a["tokens"].dump();
  auto tok = Tokenizer::from_gguf(*GgufFile::open(test::model_path("stories260K.gguf")));
  std::string joined;
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(pieces[i], tok->token_to_piece(ids[i])) << i;
    joined += pieces[i].get<std::string>();
  }
  EXPECT_NE(joined.find(kQuestions[1]), std::string::npos) << joined;
  EXPECT_NE(joined.find("hunt at dawn"), std::string::npos) << joined;
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok->bos_id()), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok->eos_id()), 0);
}

// Without --debug-prompt the debug field is refused, not ignored.
TEST(RagQuery, DebugNeedsTheServerFlag) {
  RagServer plain;
  int status = 0;
  json e = post(plain.r.client(), "/v1/rag/query", {{"question", kQuestions[1]}, {"debug", true}}, &status);
  EXPECT_EQ(status, 400) << e.dump();
  EXPECT_EQ(e["error"]["param"], "debug");
}

// Each answer lists its adaptive decisions with their cost; a query that asks
// for the cache gets the identical answer again, marked cached, until an
// upload changes the collection.
TEST(RagQuery, AdaptiveDecisionsAndTheAnswerCache) {
  RagServer s;
  const json cfg = {{"generation", {{"max_tokens", 8}}},
                    {"adaptive", {{"cache", true}, {"hyde", "auto"}, {"context", "auto"}}}};
  auto ask = [&s, &cfg](int* status) {
    return post(s.r.client(), "/v1/rag/query", {{"question", "When do cats hunt?"}, {"config", cfg}}, status);
  };
  int status = 0;
  const json first = ask(&status);
  ASSERT_EQ(status, 200) << first.dump();
  EXPECT_FALSE(first["cached"].get<bool>());
  EXPECT_EQ(first["model"], "large");
  std::vector<std::string> stages;
  for (const json& st : first["adaptive"]) {
    stages.push_back(st["stage"]);
    for (const char* k : {"decision", "reason", "ms", "joules"}) EXPECT_TRUE(st.contains(k)) << st.dump();
  }
  EXPECT_EQ(stages, (std::vector<std::string>{"cache", "route", "hyde", "context"}));
  EXPECT_EQ(first["adaptive"][2]["decision"], "off");  // no dense vectors in this index
  EXPECT_TRUE(first["confidence"]["confidence"].is_number());
  EXPECT_TRUE(first["signals"]["difficulty"].is_number());

  const json again = ask(&status);
  ASSERT_EQ(status, 200);
  EXPECT_TRUE(again["cached"].get<bool>());
  EXPECT_EQ(again["answer"], first["answer"]);
  EXPECT_EQ(again["citations"], first["citations"]);
  EXPECT_EQ(again["adaptive"][0]["decision"], "hit");

  post(s.r.client(), "/v1/documents",
       {{"collection", "notes"}, {"documents", {{{"key", "owls"}, {"text", "Owls hunt at night."}}}}}, &status);
  ASSERT_EQ(status, 200);
  EXPECT_FALSE(ask(&status)["cached"].get<bool>());
}

// serve --route: two local LLMs; each answer says which one answered
// ("model", "model_id") and why (the route step's reason), and its generation
// ran on that model's scheduler.
TEST(RagQuery, RoutingAnswersOnTheChosenModelAndSaysWhy) {
  TempDir dir;
  ServedModels m = RagServer::models(dir.path.string(), {});
  LlmOptions o;
  o.kv_tokens = 4096;
  o.n_threads = 1;
  m.llm_small = load_models({.llm = test::model_path("stories260K-q8_0-ffndown_f16.gguf")}, o).llm;
  Running r(std::move(m), {});
  int status = 0;
  post(r.client(), "/v1/documents", {{"collection", "notes"}, {"documents", kDocs}}, &status);
  ASSERT_EQ(status, 200);
  auto ask = [&](const json& adaptive) {
    return post(r.client(), "/v1/rag/query",
                {{"question", "When do cats hunt?"},
                 {"config", {{"generation", {{"max_tokens", 6}}}, {"adaptive", adaptive}}}},
                &status);
  };
  auto route_step = [](const json& a) {
    for (const json& st : a["adaptive"])
      if (st["stage"] == "route") return st;
    return json();
  };
  const json small = ask({{"route", "small"}});
  ASSERT_EQ(status, 200) << small.dump();
  EXPECT_EQ(small["model"], "small");
  EXPECT_EQ(small["model_id"], "stories260K-q8_0-ffndown_f16");
  EXPECT_EQ(route_step(small)["decision"], "small");
  EXPECT_FALSE(route_step(small)["reason"].get<std::string>().empty());
  EXPECT_GE(small["tokens"]["answer"].get<int>(), 1);
  const json large = ask({{"route", "large"}});
  ASSERT_EQ(status, 200) << large.dump();
  EXPECT_EQ(large["model"], "large");
  EXPECT_EQ(large["model_id"], "stories260K");
  // auto: a question is easy below the threshold; with 0 none is.
  const json hard = ask({{"route", "auto"}, {"route_threshold", 0}});
  ASSERT_EQ(status, 200) << hard.dump();
  EXPECT_EQ(hard["model_id"], "stories260K");
  EXPECT_NE(route_step(hard)["reason"].get<std::string>().find("difficulty"), std::string::npos)
      << route_step(hard).dump();
  const json easy = ask({{"route", "auto"}, {"route_threshold", 1}});
  ASSERT_EQ(status, 200) << easy.dump();
  EXPECT_EQ(easy["model_id"], "stories260K-q8_0-ffndown_f16");
  // Both served models are listed.
  auto models = r.client().Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_NE(models->body.find("stories260K-q8_0-ffndown_f16"), std::string::npos);
}

}  // namespace
}  // namespace edgerag::server
