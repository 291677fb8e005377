#include "rag/config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

using test::error_of;

TEST(AnswerConfig, DefaultsMatchTheDocumentedBudgets) {
  AnswerConfig c;
  EXPECT_EQ(c.max_prompt_tokens, 3000);
  EXPECT_EQ(c.max_chunks, 8);
  EXPECT_EQ(c.rerank, RerankMode::Auto);
  EXPECT_TRUE(c.hybrid);
  EXPECT_NO_THROW(c.validate());
}

TEST(AnswerConfig, TomlOverridesOnlyTheKeysItNames) {
  AnswerConfig c;
  apply_toml(c, R"(
[retrieval]
bm25_depth = 30
rrf_k = 10
ef_search = 200
rescore_depth = 32
rerank = "off"
hybrid = false
[prompt]
max_chunks = 4
system = "Be brief."
[generation]
temperature = 0.7
max_tokens = 64
seed = 7
[extractive]
sentences = 2
)");
  EXPECT_EQ(c.bm25_depth, 30);
  EXPECT_EQ(c.rrf_k, 10);
  EXPECT_EQ(c.ef_search, 200);
  EXPECT_EQ(c.rescore_depth, 32);
  AnswerConfig negative;
  negative.rescore_depth = -1;
  EXPECT_THROW(negative.validate(), Error);
  EXPECT_EQ(c.rerank, RerankMode::Off);
  EXPECT_FALSE(c.hybrid);
  EXPECT_EQ(c.max_chunks, 4);
  EXPECT_EQ(c.system_prompt, "Be brief.");
  EXPECT_FLOAT_EQ(c.temperature, 0.7f);
  EXPECT_EQ(c.max_answer_tokens, 64);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.extract_sentences, 2);
  // Untouched keys keep their defaults.
  AnswerConfig d;
  EXPECT_EQ(c.dense_depth, d.dense_depth);
  EXPECT_EQ(c.max_prompt_tokens, d.max_prompt_tokens);
}

TEST(AnswerConfig, ChunkKvReuseKeys) {
  AnswerConfig c;
  EXPECT_EQ(c.kv_reuse.mode, KvReuse::Prefix);  // today's behaviour by default
  apply_toml(c, "[prompt]\nkv_reuse = \"chunks\"\nrecompute_share = 0.2\nrecompute_first = 3\n");
  EXPECT_EQ(c.kv_reuse.mode, KvReuse::Chunks);
  EXPECT_DOUBLE_EQ(c.kv_reuse.recompute_share, 0.2);
  EXPECT_EQ(c.kv_reuse.recompute_first, 3);
  EXPECT_THROW(apply_toml(c, "[prompt]\nkv_reuse = \"all\"\n"), Error);
  AnswerConfig bad;
  bad.kv_reuse.recompute_share = 1.5;
  EXPECT_THROW(bad.validate(), Error);
}

TEST(AnswerConfig, IntegerAcceptedWhereANumberIsExpected) {
  AnswerConfig c;
  apply_toml(c, "[generation]\ntemperature = 1\n");
  EXPECT_FLOAT_EQ(c.temperature, 1.0f);
}

TEST(AnswerConfig, FileThenOverrides) {
  auto path = std::filesystem::temp_directory_path() / "edgerag_config_test.toml";
  {
    std::ofstream f(path);
    f << "[prompt]\nmax_tokens = 1000\nmax_chunks = 5\n";
  }
  AnswerConfig c = load_answer_config(path.string());
  EXPECT_EQ(c.max_prompt_tokens, 1000);
  EXPECT_EQ(c.max_chunks, 5);
  // Flags / request bodies override what the file said.
  apply_json(c, nlohmann::json::parse(R"({"prompt": {"max_chunks": 2}, "retrieval": {"rerank": "on"}})"));
  EXPECT_EQ(c.max_chunks, 2);
  EXPECT_EQ(c.max_prompt_tokens, 1000);
  EXPECT_EQ(c.rerank, RerankMode::On);
  std::filesystem::remove(path);
}

TEST(AnswerConfig, JsonRoundTrip) {
  AnswerConfig c;
  c.bm25_depth = 11;
  c.rerank = RerankMode::On;
  c.system_prompt = "x";
  AnswerConfig d;
  apply_json(d, to_json(c));
  EXPECT_EQ(to_json(d), to_json(c));
}

TEST(AnswerConfig, IndexSectionSetsTheDenseIndexSettings) {
  AnswerConfig c;
  EXPECT_EQ(c.index.hnsw_m, 16);
  EXPECT_EQ(c.index.ef_construction, 200);
  EXPECT_EQ(c.index.vectors, "f32");
  apply_toml(c, "[index]\nhnsw_m = 32\nef_construction = 400\nexact_below = 0\nvectors = \"int8\"\n", "i.toml");
  EXPECT_EQ(c.index.hnsw_m, 32);
  EXPECT_EQ(c.index.ef_construction, 400);
  EXPECT_EQ(c.index.exact_below, 0);
  EXPECT_EQ(c.index.vectors, "int8");
  AnswerConfig d;
  apply_json(d, to_json(c));
  EXPECT_EQ(to_json(d), to_json(c));
  auto error = [](const char* toml) {
    AnswerConfig e;
    return error_of([&] { apply_toml(e, toml, "i.toml"); });
  };
  std::string msg = error("[index]\nvectors = \"int4\"\n");
  EXPECT_NE(msg.find("index.vectors: expected"), std::string::npos) << msg;
  msg = error("[index]\nhnsw_m = 1\n");
  EXPECT_NE(msg.find("index.hnsw_m: expected 2..256"), std::string::npos) << msg;
  msg = error("[index]\nef_construction = 5000\n");
  EXPECT_NE(msg.find("index.ef_construction: expected 4..4096"), std::string::npos) << msg;
}

TEST(AnswerConfig, BadTomlNamesFileLineAndColumn) {
  AnswerConfig c;
  std::string msg = error_of([&] { apply_toml(c, "[prompt]\nmax_chunks = = 3\n", "my.toml"); });
  EXPECT_NE(msg.find("my.toml:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid TOML"), std::string::npos) << msg;
}

TEST(AnswerConfig, UnknownKeysWrongTypesAndRangesAreErrors) {
  AnswerConfig c;
  std::string msg = error_of([&] { apply_toml(c, "[prompt]\nmax_chunk = 3\n", "a.toml"); });
  EXPECT_NE(msg.find("a.toml:2:13: unknown setting prompt.max_chunk"), std::string::npos) << msg;
  msg = error_of([&] { apply_toml(c, "[prompt]\nmax_chunks = \"3\"\n", "a.toml"); });
  EXPECT_NE(msg.find("prompt.max_chunks must be an integer"), std::string::npos) << msg;
  msg = error_of([&] { apply_toml(c, "max_chunks = 3\n", "a.toml"); });
  EXPECT_NE(msg.find("must be a [section]"), std::string::npos) << msg;
  msg = error_of([&] { apply_toml(c, "[retrieval]\nrerank = \"sometimes\"\n", "a.toml"); });
  EXPECT_NE(msg.find("sometimes"), std::string::npos) << msg;
  msg = error_of([&] { apply_toml(c, "[prompt]\nmax_tokens = 0\n", "a.toml"); });
  EXPECT_NE(msg.find("prompt.max_tokens: expected 1.."), std::string::npos) << msg;
  msg = error_of([&] { apply_toml(c, "[generation]\nmax_tokens = 99999999999\n", "a.toml"); });
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  msg = error_of([&] { apply_json(c, nlohmann::json::parse(R"({"prompt": {"max_chunks": 2.5}})")); });
  EXPECT_NE(msg.find("prompt.max_chunks must be an integer"), std::string::npos) << msg;
  msg = error_of([&] { load_answer_config("/nonexistent/edgerag.toml"); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

}  // namespace
}  // namespace edgerag::rag
