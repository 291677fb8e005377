// BEIR metric definitions on hand-computed cases, and a tiny BEIR data set
// evaluated end to end through an index.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "eval/retrieval_beir.h"
#include "eval/retrieval_metrics.h"
#include "util/error.h"

namespace edgerag::eval {
namespace {

TEST(RetrievalMetrics, NdcgHandComputed) {
  Judgments rel = {{"a", 1}, {"b", 2}, {"z", 1}};
  // Ranked b (gain 2, rank 1), x (0), a (1, rank 3): DCG = 2/log2(2) + 1/log2(4) = 2.5.
  // Ideal 2,1,1: 2 + 1/log2(3) + 1/log2(4).
  double ideal = 2 + 1 / std::log2(3.0) + 0.5;
  EXPECT_NEAR(ndcg_at({"b", "x", "a"}, rel, 10), 2.5 / ideal, 1e-12);
  // Cut at 2: DCG = 2, ideal = 2 + 1/log2(3).
  EXPECT_NEAR(ndcg_at({"b", "x", "a"}, rel, 2), 2 / (2 + 1 / std::log2(3.0)), 1e-12);
  EXPECT_DOUBLE_EQ(ndcg_at({"x", "y"}, rel, 10), 0.0);
  EXPECT_DOUBLE_EQ(ndcg_at({"b", "a", "z"}, rel, 10), 1.0);
}

TEST(RetrievalMetrics, RecallAndMrrHandComputed) {
  Judgments rel = {{"a", 1}, {"b", 1}, {"c", 1}, {"n", 0}};
  std::vector<std::string> ranked = {"n", "x", "b", "a"};
  EXPECT_DOUBLE_EQ(recall_at(ranked, rel, 100), 2.0 / 3);
  EXPECT_DOUBLE_EQ(recall_at(ranked, rel, 3), 1.0 / 3);
  EXPECT_DOUBLE_EQ(mrr_at(ranked, rel, 10), 1.0 / 3);  // "n" is judged but not relevant
  EXPECT_DOUBLE_EQ(mrr_at(ranked, rel, 2), 0.0);
}

TEST(RetrievalMetrics, TrecTieOrderAndAveraging) {
  // Equal scores: trec_eval ranks the larger doc id first.
  EXPECT_EQ(trec_order({{"d1", 1.0}, {"d2", 1.0}, {"d0", 2.0}}), (std::vector<std::string>{"d0", "d2", "d1"}));
  Qrels qrels = {{"q1", {{"d1", 1}}}, {"q2", {{"d9", 1}}}, {"q3", {{"d5", 0}}}};
  eval::Run run = {{"q1", {{"d1", 1.0}, {"d2", 1.0}}}};  // q2 missing from the run, q3 has no relevant doc
  auto m = evaluate_run(qrels, run);
  EXPECT_EQ(m.queries, 2u);
  // q1: d2 ranks first on the tie, d1 second: nDCG = 1/log2(3), MRR = 1/2; q2 scores 0.
  EXPECT_NEAR(m.ndcg_at_10, (1 / std::log2(3.0)) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(m.mrr_at_10, 0.25);
  EXPECT_DOUBLE_EQ(m.recall_at_100, 0.5);
}

TEST(RetrievalMetrics, PercentileInterpolates) {
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 95), 4.8);
  EXPECT_DOUBLE_EQ(percentile({7}, 95), 7.0);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0.0);
}

TEST(RetrievalBeir, TinyDatasetEndToEnd) {
  auto dir = std::filesystem::temp_directory_path() / ("edgerag-beir-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "qrels");
  std::ofstream(dir / "corpus.jsonl")
      << "{\"_id\": \"d1\", \"title\": \"Cats\", \"text\": \"Cats purr when content.\"}\n"
         "{\"_id\": \"d2\", \"title\": \"Dogs\", \"text\": \"Dogs bark at strangers.\"}\n"
         "{\"_id\": \"q2\", \"title\": \"Same id as a query\", \"text\": \"Dogs dogs dogs bark.\"}\n"
         "{\"_id\": 7, \"title\": \"\", \"text\": \"Parrots talk and dogs listen.\"}\n";
  std::ofstream(dir / "queries.jsonl") << "{\"_id\": \"q1\", \"text\": \"why do cats purr\"}\n"
                                          "{\"_id\": \"q2\", \"text\": \"dogs bark\"}\n"
                                          "{\"_id\": \"q3\", \"text\": \"not judged\"}\n"
                                          "{\"_id\": \"q5\", \"text\": \" \"}\n";
  // q4 (not in queries.jsonl) and q5 (blank text) are judged but cannot run:
  // BEIR's tooling leaves them out of the means; averaging them in as 0 would
  // report 0.5 instead of 1.0 here.
  std::ofstream(dir / "qrels/test.tsv")
      << "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\t7\t1\nq4\td1\t1\nq5\td2\t1\n";
  auto data = load_beir(dir.string());
  EXPECT_EQ(data.corpus.size(), 4u);
  EXPECT_EQ(data.corpus[3].key, "7");
  EXPECT_EQ(data.queries.size(), 2u);
  EXPECT_EQ(data.judged_without_text, 2u);

  rag::IndexOptions io;
  io.writable = true;
  auto idx = rag::Index::open((dir / "idx").string(), io);
  rag::IngestOptions ing;
  ing.collection = kBeirCollection;
  idx->ingest_texts(data.corpus, ing);
  EXPECT_EQ(idx->ingest_texts(data.corpus, ing).unchanged, 4u);  // idempotent
  BeirRunOptions ro;
  ro.search.mode = rag::SearchMode::Bm25;
  auto r = run_beir(*idx, data, ro);
  EXPECT_EQ(r.metrics.queries, 2u);
  EXPECT_EQ(r.skipped_queries, 2u);
  // q1 -> d1 first. q2: "q2" itself is dropped (identical id); d2 first, 7 second.
  EXPECT_DOUBLE_EQ(r.metrics.mrr_at_10, 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.ndcg_at_10, 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.recall_at_100, 1.0);
  EXPECT_GT(r.latency_p95_ms, 0.0);
  const auto queries = read_beir_queries((dir / "queries.jsonl").string(), 2);
  ASSERT_EQ(queries.size(), 2u);
  EXPECT_EQ(queries[1], (std::pair<std::string, std::string>{"q2", "dogs bark"}));
  std::filesystem::remove_all(dir);
  EXPECT_THROW(load_beir((dir / "missing").string()), Error);
}

// A record nested deeper than any BEIR record, or with an _id that is not a
// string or a number, is refused by file and line before it is parsed or printed.
TEST(RetrievalBeir, HostileRecordsAreRefusedByLine) {
  auto dir = std::filesystem::temp_directory_path() / ("edgerag-beir-hostile-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "queries.jsonl").string();
  std::ofstream(path) << "{\"_id\": \"q1\", \"text\": \"fine\"}\n{\"_id\": " << std::string(400000, '[')
                      << std::string(400000, ']') << ", \"text\": \"x\"}\n";
  try {
    read_beir_queries(path);
    FAIL() << "a 400,000-deep _id was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("queries.jsonl:2: record too large or too deeply nested"), std::string::npos)
        << e.what();
  }
  std::ofstream(path) << "{\"_id\": {\"a\": 1}, \"text\": \"x\"}\n";
  EXPECT_THROW(read_beir_queries(path), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edgerag::eval
