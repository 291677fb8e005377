// The pruned BM25 path (inverted index, MaxScore, block-max bounds) against
// the exhaustive FTS5 scorer on random corpora and queries: the same chunks in
// the same order with bit-identical scores, after updates and deletes, under
// filters, on reopening, and on an index built before the postings existed.
#include <gtest/gtest.h>

#include <random>

#include "fixtures.h"
#include "rag/bm25_index.h"
#include "rag/index.h"
#include "rag/sqlite_db.h"

namespace edgerag::rag {
namespace {

// Words with stems in common, stop words, case, diacritics and digits: what
// the tokenizer chain (porter, stop words, unicode61) has to agree on.
const std::vector<std::string>& vocabulary() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> w = {"run",   "running", "runs",   "Runner", "the",    "of",      "and",    "a",
                                  "café",  "cafe",    "naïve",  "naive",  "x86",    "2024",    "GPU",    "gpus",
                                  "index", "indexes", "indexing", "query", "queries", "score",  "scoring", "block",
                                  "internationalization", "Überraschungsei", "tokenizerpart1", "tokenizerpart2"};
    for (int i = 0; i < 160; ++i) w.push_back(fmt::format("w{}", i));
    return w;
  }();
  return v;
}

// Zipf-like draws: low ranks are frequent, so lists range from long to rare.
std::string word(std::mt19937& rng) {
  const auto& v = vocabulary();
  std::uniform_real_distribution<double> u(0, 1);
  auto rank = static_cast<size_t>(std::pow(static_cast<double>(v.size()), u(rng))) - 1;
  return v[std::min(rank, v.size() - 1)];
}

std::string text(std::mt19937& rng, int min_words, int max_words) {
  int n = std::uniform_int_distribution<int>(min_words, max_words)(rng);
  std::string s;
  for (int i = 0; i < n; ++i) s += word(rng) + (i % 9 == 8 ? ". " : " ");
  return s;
}

std::vector<TextDocument> corpus(std::mt19937& rng, int n, const std::string& prefix) {
  std::vector<TextDocument> docs;
  for (int i = 0; i < n; ++i)
    docs.push_back({fmt::format("{}{}", prefix, i), text(rng, 0, 3), text(rng, 1, 120)});
  return docs;
}

IngestOptions small_chunks(const std::string& collection = "default") {
  IngestOptions o;
  o.collection = collection;
  o.chunk = {24, 0, 4};  // several chunks per document
  return o;
}

std::unique_ptr<Index> open_rw(const std::string& dir) {
  IndexOptions o;
  o.writable = true;
  return Index::open(dir, o);
}

// Pruned and exhaustive rankings of `queries` at several depths, hit by hit.
void expect_same_rankings(Index& idx, std::mt19937& rng, int queries, const SearchFilter& filter = {}) {
  for (int q = 0; q < queries; ++q) {
    std::string query = text(rng, 1, 8);
    for (size_t k : {1, 10, 60}) {
      SearchOptions o;
      o.mode = SearchMode::Bm25;
      o.k = k;
      o.bm25_depth = k;
      o.filter = filter;
      auto pruned = idx.search(query, o);
      o.bm25_exhaustive = true;
      auto exact = idx.search(query, o);
      ASSERT_EQ(pruned.hits.size(), exact.hits.size()) << query << " k=" << k;
      for (size_t i = 0; i < exact.hits.size(); ++i) {
        ASSERT_EQ(pruned.hits[i].chunk_id, exact.hits[i].chunk_id) << query << " k=" << k << " rank " << i;
        ASSERT_EQ(pruned.hits[i].score, exact.hits[i].score) << query << " k=" << k << " rank " << i;
      }
    }
  }
}

TEST(Bm25Index, RankingEqualsExhaustiveScorer) {
  test::TempDir t;
  std::mt19937 rng(7);
  auto idx = open_rw(t / "idx");
  idx->ingest_texts(corpus(rng, 400, "doc"), small_chunks());
  ASSERT_GT(idx->stats().chunks, 1000u);  // long lists span many blocks
  expect_same_rankings(*idx, rng, 60);
}

TEST(Bm25Index, StaysExactAfterUpdatesDeletesAndReopening) {
  test::TempDir t;
  std::mt19937 rng(11);
  auto idx = open_rw(t / "idx");
  idx->ingest_texts(corpus(rng, 240, "doc"), small_chunks());
  idx->ingest_texts(corpus(rng, 60, "other"), small_chunks("other"));
  // Replace a third of the documents, delete another third, add new ones.
  idx->ingest_texts(corpus(rng, 80, "doc"), small_chunks());
  for (int i = 80; i < 160; ++i) ASSERT_TRUE(idx->remove("default", fmt::format("doc{}", i)));
  idx->ingest_texts(corpus(rng, 40, "late"), small_chunks());
  expect_same_rankings(*idx, rng, 30);

  SearchFilter only_other;
  only_other.collections = {"other"};
  expect_same_rankings(*idx, rng, 20, only_other);

  // Delete everything of one collection: its terms leave the vocabulary.
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(idx->remove("other", fmt::format("other{}", i)));
  expect_same_rankings(*idx, rng, 20);
  idx.reset();
  auto reader = Index::open(t / "idx");
  expect_same_rankings(*reader, rng, 20);
}

TEST(Bm25Index, PipelinedBatchesWithRepeatedKeysMatchTheLastCopy) {
  // Tiny batches, so one call runs many windows prepared ahead of the writer;
  // keys repeat within a window and across two (their hints are stale), and
  // some documents come back unchanged.
  test::TempDir t;
  std::mt19937 rng(23);
  auto idx = open_rw(t / "idx");
  IngestOptions o = small_chunks();
  o.batch_bytes = 2000;
  auto first = corpus(rng, 120, "doc");
  ASSERT_EQ(idx->ingest_texts(first, o).added, 120u);
  std::vector<TextDocument> docs(first.begin(), first.begin() + 30);  // unchanged
  auto fresh = corpus(rng, 60, "doc"), again = corpus(rng, 20, "doc");
  for (size_t i = 0; i < 60; ++i) {  // doc0..doc59 replaced, doc0..doc19 twice in a row
    docs.push_back(fresh[i]);
    if (i < 20) docs.push_back(again[i]);
  }
  const IngestReport rep = idx->ingest_texts(docs, o);
  EXPECT_EQ(rep.unchanged, 30u);
  EXPECT_GE(rep.updated, 60u);
  EXPECT_EQ(idx->stats().documents, 120u);
  // Each key holds its last copy: the same scores as an index given only those, in one batch.
  std::vector<TextDocument> last = first;
  for (int i = 0; i < 60; ++i) last[static_cast<size_t>(i)] = i < 20 ? again[static_cast<size_t>(i)] : fresh[static_cast<size_t>(i)];
  auto ref = open_rw(t / "ref");
  ref->ingest_texts(last, small_chunks());
  EXPECT_EQ(idx->stats().chunks, ref->stats().chunks);
  SearchOptions so;
  so.mode = SearchMode::Bm25;
  so.k = so.bm25_depth = 10000;
  for (int q = 0; q < 30; ++q) {
    const std::string query = text(rng, 1, 6);
    auto hits = [&](Index& x) {
      std::vector<std::pair<std::string, double>> out;
      for (const auto& h : x.search(query, so).hits) out.emplace_back(h.provenance.path + "|" + h.text, h.score);
      std::sort(out.begin(), out.end());
      return out;
    };
    ASSERT_EQ(hits(*idx), hits(*ref)) << query;
  }
  expect_same_rankings(*idx, rng, 30);
}

// Pruned rankings of `queries` on `reader` hit by hit against the exhaustive
// ones of `writer` (the same index file, possibly another connection).
void expect_rankings_of(Index& reader, Index& writer, const std::vector<std::string>& queries) {
  for (const auto& query : queries) {
    SearchOptions o;
    o.mode = SearchMode::Bm25;
    o.k = o.bm25_depth = 10;
    auto pruned = reader.search(query, o);
    o.bm25_exhaustive = true;
    auto exact = writer.search(query, o);
    ASSERT_EQ(pruned.hits.size(), exact.hits.size()) << query;
    for (size_t i = 0; i < exact.hits.size(); ++i) {
      ASSERT_EQ(pruned.hits[i].chunk_id, exact.hits[i].chunk_id) << query << " rank " << i;
      ASSERT_EQ(pruned.hits[i].score, exact.hits[i].score) << query << " rank " << i;
    }
  }
}

// The block lists kept between queries follow every write: the same queries
// asked before and after adds and deletes, on the writing connection and on
// a reader's, which only sees the generation change in the file.
TEST(Bm25Index, KeptListsFollowAddsAndDeletesOnThisAndAnotherConnection) {
  test::TempDir t;
  std::mt19937 rng(31);
  auto idx = open_rw(t / "idx");
  idx->ingest_texts(corpus(rng, 200, "doc"), small_chunks());
  auto reader = Index::open(t / "idx");
  std::vector<std::string> queries;
  for (int q = 0; q < 20; ++q) queries.push_back(text(rng, 1, 6));
  queries.push_back("run the index of w1");  // frequent terms: long lists of many blocks
  expect_rankings_of(*idx, *idx, queries);
  expect_rankings_of(*reader, *idx, queries);
  for (int round = 0; round < 3; ++round) {
    idx->ingest_texts(corpus(rng, 60, fmt::format("more{}-", round)), small_chunks());
    expect_rankings_of(*idx, *idx, queries);
    expect_rankings_of(*reader, *idx, queries);
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(idx->remove("default", fmt::format("doc{}", 40 * round + i)));
    expect_rankings_of(*reader, *idx, queries);  // the reader first this time
    expect_rankings_of(*idx, *idx, queries);
  }
}

// A list read inside a write transaction is not kept: if the transaction
// rolls back, another connection's commit brings back the generation number
// it was read at, with other postings.
TEST(Bm25Index, ListsReadInsideARolledBackWriteAreNotKept) {
  test::TempDir t;
  std::mt19937 rng(41);
  open_rw(t / "idx")->ingest_texts(corpus(rng, 100, "doc"), small_chunks());
  const std::string path = t / "idx/index.sqlite";
  Db a(path, true), b(path, true);
  auto meta = [&](const char* key) {
    auto st = a.prepare("SELECT value FROM meta WHERE key = ?1");
    st.bind(1, std::string_view(key));
    return st.step() ? st.text(0) : std::string();
  };
  const std::string spec = fts_tokenizer_spec(meta("stemming") == "1", meta("stopwords"));
  const double k1 = std::stod(meta("bm25_k1")), b1 = std::stod(meta("bm25_b"));
  for (Db* db : {&a, &b}) register_bm25(db->handle());
  Bm25Index pa(a, spec, k1, b1), pb(b, spec, k1, b1);
  // Postings for `n` new chunks, numbered from `first`, each holding the term zzfresh.
  auto add = [&](Bm25Index& p, int64_t first, size_t n) {
    Bm25Index::Batch batch(p);
    std::vector<int64_t> ids;
    for (size_t i = 0; i < n; ++i) ids.push_back(first + static_cast<int64_t>(i));
    batch.add(Bm25Index::Gatherer(p).gather(n, [](size_t) { return std::pair<std::string_view, std::string_view>("zzfresh w1", ""); }),
              std::move(ids));
    batch.write();
  };
  auto top = [&](Db& db, Bm25Index& p) {
    ReadSnapshot snap(db);
    std::vector<int64_t> ids;
    const auto hits = p.search({"zzfresh"}, 100, nullptr);
    EXPECT_TRUE(hits);
    for (const auto& [id, score] : hits.value_or(std::vector<std::pair<int64_t, double>>{})) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_TRUE(top(a, pa).empty());
  const int64_t generation = pa.generation();
  {
    Transaction tx(a);
    add(pa, 1000000, 3);
    ASSERT_EQ(top(a, pa), (std::vector<int64_t>{1000000, 1000001, 1000002}));
  }  // rolled back
  {
    Transaction tx(b);
    add(pb, 2000000, 2);
    tx.commit();
  }
  ASSERT_EQ(pa.generation(), generation + 1);  // the number the rolled-back write had
  EXPECT_EQ(top(a, pa), (std::vector<int64_t>{2000000, 2000001}));
}

TEST(Bm25Index, BuildsPostingsForAnIndexMadeWithoutThem) {
  test::TempDir t;
  std::mt19937 rng(3);
  open_rw(t / "idx")->ingest_texts(corpus(rng, 150, "doc"), small_chunks());
  {  // What such an index holds: every chunk in FTS5, no postings, no FTS5 mark.
    Db db(t / "idx/index.sqlite", true);
    register_bm25(db.handle());
    db.exec("INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild'); DELETE FROM meta WHERE key = 'fts_through'");
    Bm25Index::drop(db);
  }
  // Read-only, it answers through FTS5; the next writable open builds the postings.
  auto reader = Index::open(t / "idx");
  SearchOptions o;
  o.mode = SearchMode::Bm25;
  EXPECT_FALSE(reader->search("w1 w2 run", o).hits.empty());
  reader.reset();
  auto idx = open_rw(t / "idx");
  Db db(t / "idx/index.sqlite", false);
  auto st = db.prepare("SELECT docs = (SELECT count(*) FROM chunks) FROM bm25_stats");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.i64(0), 1);
  expect_same_rankings(*idx, rng, 30);
}

}  // namespace
}  // namespace edgerag::rag
