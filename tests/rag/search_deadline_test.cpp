// The request deadline stops a search inside its long scans, not only between
// stages: an SQLite statement (the exhaustive FTS5 BM25 ranking) through the
// connection's progress handler, the dense search inside the HNSW graph and the
// exact scan. The stage named in the error tells where it stopped (between
// stages it would be "search (bm25)" or "search (retrieval)").
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "fixtures.h"
#include "rag/index.h"
#include "rag/sqlite_db.h"
#include "test_embedder.h"
#include "util/deadline.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<TextDocument> notes(int n) {
  std::vector<TextDocument> docs;
  for (int i = 0; i < n; ++i)
    docs.push_back({fmt::format("d{}", i), "", fmt::format("Note {} on the common topic{} and theme{}.", i, i % 37, i % 11)});
  return docs;
}

// Embeds like HashEmbedder, after sleeping `delay` on query embeddings: the
// request's deadline passes between the embedding and the dense search.
class SlowQueryEmbedder : public test::HashEmbedder {
 public:
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, bool query) override {
    if (query) std::this_thread::sleep_for(delay);
    return HashEmbedder::embed(texts, query);
  }
  std::chrono::milliseconds delay{0};
};

std::string search_error(Index& idx, SearchOptions o) {
  try {
    idx.search("common topic", o);
  } catch (const DeadlineExceeded& e) {
    return e.what();
  }
  return "";
}

TEST(SearchDeadline, SqliteStatementStopsAtTheDeadline) {
  test::TempDir t;
  Db db(t / "db.sqlite", true);
  // About 10^9 rows: minutes without the deadline.
  const char* sql =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) SELECT count(*) FROM c";
  auto st = db.prepare(sql);
  const auto start = Clock::now();
  {
    DeadlineScope scope(start + 50ms);
    st.bind(1, int64_t{1000000000});
    EXPECT_THROW(st.step(), DeadlineExceeded);
  }
  EXPECT_LT(Clock::now() - start, 5s);
  // The statement is reset: bound again and run outside any deadline, it completes.
  st.bind(1, int64_t{1000});
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.i64(0), 1000);
}

TEST(SearchDeadline, ExhaustiveBm25StopsInsideTheFtsScan) {
  test::TempDir t;
  IndexOptions o;
  o.writable = true;
  auto idx = Index::open(t / "idx", o);
  idx->ingest_texts(notes(3000), IngestOptions{});
  SearchOptions s;
  s.mode = SearchMode::Bm25;
  s.bm25_exhaustive = true;
  EXPECT_FALSE(idx->search("common topic", s).hits.empty());
  s.deadline = Clock::now() - 1ms;
  EXPECT_EQ(search_error(*idx, s), "timed out in an index query");
}

TEST(SearchDeadline, DenseSearchStopsInsideTheGraphAndTheExactScan) {
  // The HNSW graph of float points, of int8 points (re-scored), then the exact matrix.
  for (auto [exact_below, points] : {std::pair<size_t, const char*>{0, "f32"}, {0, "int8"}, {1000000, "f32"}}) {
    SCOPED_TRACE(fmt::format("{} {}", exact_below, points));
    test::TempDir t;
    auto emb = std::make_shared<SlowQueryEmbedder>();
    IndexOptions o;
    o.writable = true;
    o.exact_below = exact_below;
    o.vectors = points;
    auto idx = Index::open(t / "idx", o);
    idx->set_embedder(emb);
    idx->ingest_texts(notes(300), IngestOptions{});
    SearchOptions s;
    s.mode = SearchMode::Dense;
    EXPECT_EQ(idx->search("common topic", s).hits.size(), s.k);  // the graph or matrix is loaded
    emb->delay = 30ms;
    s.deadline = Clock::now() + 10ms;
    EXPECT_EQ(search_error(*idx, s), "timed out in dense search");
    // A later search without a deadline finds the same as before.
    s.deadline = Clock::time_point::max();
    emb->delay = 0ms;
    EXPECT_EQ(idx->search("common topic", s).hits.size(), s.k);
  }
}

}  // namespace
}  // namespace edgerag::rag
