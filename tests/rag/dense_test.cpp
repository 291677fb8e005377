// Dense and hybrid retrieval: exact and HNSW paths, the recorded embedder,
// reranking (and skipping it on agreement), and the real GGUF encoder
// adapters end to end with the synthetic models.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "fixtures.h"
#include "rag/index.h"
#include "rag/int8_codes.h"
#include "rag/sqlite_db.h"
#include "test_embedder.h"
#include "test_paths.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

std::vector<TextDocument> animals() {
  return {{"cat", "", "The cat sleeps on the warm sofa all afternoon."},
          {"dog", "", "A loyal dog fetches the ball in the park."},
          {"fish", "", "Tropical fish swim around the coral reef."},
          {"owl", "", "An owl hunts mice silently at night."},
          {"bee", "", "Bees collect nectar and make honey in the hive."}};
}

std::unique_ptr<Index> build(const std::string& dir, std::shared_ptr<Embedder> emb, size_t exact_below) {
  IndexOptions o;
  o.writable = true;
  o.exact_below = exact_below;
  auto idx = Index::open(dir, o);
  idx->set_embedder(std::move(emb));
  idx->ingest_texts(animals(), IngestOptions{});
  return idx;
}

SearchOptions mode(SearchMode m, size_t k = 3) {
  SearchOptions o;
  o.mode = m;
  o.k = k;
  return o;
}

TEST(Dense, ExactAndHnswAgree) {
  test::TempDir t;
  auto emb = std::make_shared<test::HashEmbedder>();
  auto exact = build(t / "exact", emb, 1000);
  auto hnsw = build(t / "hnsw", emb, 0);  // always HNSW
  EXPECT_EQ(hnsw->stats().vectors, 5u);
  bool has_graph = false;
  for (const auto& e : std::filesystem::directory_iterator(t.path / "hnsw"))
    has_graph |= e.path().extension() == ".hnsw";
  EXPECT_TRUE(has_graph);
  for (const char* q : {"warm sofa cat", "coral reef fish", "honey hive"}) {
    auto a = exact->search(q, mode(SearchMode::Dense));
    auto b = hnsw->search(q, mode(SearchMode::Dense));
    ASSERT_EQ(a.hits.size(), 3u);
    ASSERT_EQ(b.hits.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(a.hits[i].provenance.path, b.hits[i].provenance.path) << q;
      EXPECT_NEAR(a.hits[i].score, b.hits[i].score, 1e-5);
      EXPECT_TRUE(a.hits[i].scores.dense.has_value());
    }
  }
  EXPECT_EQ(exact->search("warm sofa cat", mode(SearchMode::Dense)).hits[0].provenance.path, "cat");
}

TEST(Dense, FilteredSearchIsExactInBothModes) {
  test::TempDir t;
  auto emb = std::make_shared<test::HashEmbedder>();
  IngestOptions birds;
  birds.collection = "birds";
  const std::vector<TextDocument> more = {{"crow", "", "A crow caws from the old oak tree."},
                                          {"gull", "", "Gulls circle the fishing boats at the harbour."},
                                          {"wren", "", "The tiny wren sings loudly in the hedge."}};
  auto exact = build(t / "exact", emb, 1000);
  auto hnsw = build(t / "hnsw", emb, 0);
  exact->ingest_texts(more, birds);
  hnsw->ingest_texts(more, birds);
  auto o = mode(SearchMode::Dense, 8);
  o.filter.collections = {"birds"};
  for (const char* q : {"bird song in the hedge", "fish at sea", "night hunting"}) {
    auto a = exact->search(q, o), b = hnsw->search(q, o);
    ASSERT_EQ(a.hits.size(), 3u) << q;  // every allowed chunk, none other
    ASSERT_EQ(b.hits.size(), 3u) << q;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(a.hits[i].provenance.collection, "birds");
      EXPECT_EQ(a.hits[i].chunk_id, b.hits[i].chunk_id) << q;
      EXPECT_EQ(a.hits[i].score, b.hits[i].score) << q;  // the same stored floats, scored exactly
    }
  }
}

TEST(Dense, GraphFollowsUpdatesAndReopens) {
  test::TempDir t;
  auto emb = std::make_shared<test::HashEmbedder>();
  {
    auto idx = build(t / "idx", emb, 0);
    idx->ingest_texts({{"cat", "", "Totally rewritten: a quantum physics lecture."}}, IngestOptions{});
    EXPECT_TRUE(idx->remove("default", "owl"));
    auto r = idx->search("quantum physics lecture", mode(SearchMode::Dense, 10));
    EXPECT_EQ(r.hits[0].provenance.path, "cat");
    EXPECT_EQ(r.hits.size(), 4u);  // the removed owl is not returned
  }
  auto reader = Index::open(t / "idx");
  EXPECT_EQ(reader->recorded_embedder(), "test-hash-embedder");
  EXPECT_THROW(reader->search("cat", mode(SearchMode::Dense)), Error);  // no embedder set
  reader->set_embedder(emb);
  auto r = reader->search("quantum physics", mode(SearchMode::Dense));
  EXPECT_EQ(r.hits[0].provenance.path, "cat");
  EXPECT_THROW(reader->set_embedder(std::make_shared<test::HashEmbedder>(32)), Error);  // other dimension
}

TEST(Dense, MissingOrStaleGraphIsRebuiltFromTheDatabase) {
  test::TempDir t;
  auto emb = std::make_shared<test::HashEmbedder>();
  build(t / "idx", emb, 0).reset();
  // As after a crash between the commit and the graph save: no graph for the current generation.
  for (const auto& e : std::filesystem::directory_iterator(t.path / "idx"))
    if (e.path().extension() == ".hnsw") std::filesystem::remove(e.path());
  auto reader = Index::open(t / "idx");
  reader->set_embedder(emb);
  auto r = reader->search("coral reef fish", mode(SearchMode::Dense, 5));
  ASSERT_EQ(r.hits.size(), 5u);
  EXPECT_EQ(r.hits[0].provenance.path, "fish");
}

// Bringing the graph up to date reads only the vectors changed since its
// generation: an old vector made unreadable behind the index's back is never
// read by later inserts and deletes, while a full table scan would fail on it.
TEST(Dense, GraphUpdatesReadOnlyChangedVectors) {
  test::TempDir t;
  auto emb = std::make_shared<test::HashEmbedder>();
  build(t / "idx", emb, 0).reset();
  {
    Db db(t / "idx/index.sqlite", true);
    db.exec("UPDATE vectors SET v = x'00' WHERE chunk_id = (SELECT min(chunk_id) FROM vectors)");
  }
  IndexOptions o;
  o.writable = true;
  auto idx = Index::open(t / "idx", o);
  idx->set_embedder(emb);
  idx->ingest_texts({{"lark", "", "A lark sings above the summer meadow."}}, IngestOptions{});
  EXPECT_TRUE(idx->remove("default", "owl"));
  auto r = idx->search("lark sings above the meadow", mode(SearchMode::Dense, 10));
  ASSERT_EQ(r.hits.size(), 5u);  // four animals and the lark; the owl is gone
  EXPECT_EQ(r.hits[0].provenance.path, "lark");
  for (const auto& h : r.hits) EXPECT_NE(h.provenance.path, "owl");
  // The log keeps only what the saved graph does not hold.
  Db db(t / "idx/index.sqlite", false);
  auto st = db.prepare("SELECT count(*) FROM vector_log");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.i64(0), 0);
}

// A writer killed (SIGKILL) while it adds to and deletes from the graph, maybe
// mid-save: the next open finds every committed vector and none of the removed.
TEST(Dense, SurvivesKillDuringGraphUpdate) {
  test::TempDir t;
  auto emb = std::make_shared<test::HashEmbedder>();
  const std::string dir = t / "idx";
  auto doc = [](int i) {
    return TextDocument{fmt::format("d{}", i), "", fmt::format("Note {} on topic{} and theme{} for the graph.", i, i % 37, i % 11)};
  };
  {
    IndexOptions o;
    o.writable = true;
    o.exact_below = 0;  // always the HNSW graph
    auto idx = Index::open(dir, o);
    idx->set_embedder(emb);
    std::vector<TextDocument> docs;
    for (int i = 0; i < 150; ++i) docs.push_back(doc(i));
    idx->ingest_texts(docs, IngestOptions{});
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // one insert and one delete per commit, each followed by a graph save
    try {
      IndexOptions o;
      o.writable = true;
      auto idx = Index::open(dir, o);
      idx->set_embedder(emb);
      for (int i = 150; i < 100000; ++i) {
        idx->ingest_texts({doc(i)}, IngestOptions{});
        idx->remove("default", fmt::format("d{}", i - 150));
      }
    } catch (...) {
    }
    _exit(0);
  }
  auto generation = [&]() -> int64_t {
    try {
      Db db(dir + "/index.sqlite", false);
      auto st = db.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vec_gen'");
      return st.step() ? st.i64(0) : 0;
    } catch (const Error&) {
      return 0;
    }
  };
  const int64_t start = generation();
  for (int i = 0; i < 20000 && generation() < start + 20; ++i) std::this_thread::sleep_for(std::chrono::microseconds(500));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_GE(generation(), start + 20);

  std::set<int64_t> committed;
  {
    Db db(dir + "/index.sqlite", false);
    auto st = db.prepare("SELECT chunk_id FROM vectors");
    while (st.step()) committed.insert(st.i64(0));
  }
  auto reader = Index::open(dir);
  reader->set_embedder(emb);
  ASSERT_EQ(reader->stats().vectors, committed.size());
  auto o = mode(SearchMode::Dense, committed.size() + 20);
  o.ef_search = 1000;
  std::set<int64_t> found;
  for (const auto& h : reader->search("note on topic and theme", o).hits) found.insert(h.chunk_id);
  EXPECT_EQ(found, committed);
  reader.reset();
  // The next writer continues from there and leaves one complete graph file.
  IndexOptions rw;
  rw.writable = true;
  auto idx = Index::open(dir, rw);
  idx->set_embedder(emb);
  idx->ingest_texts({doc(-1)}, IngestOptions{});
  EXPECT_EQ(idx->search("note on topic and theme", o).hits.size(), committed.size() + 1);
  std::vector<std::string> graphs;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("vectors-", 0) == 0) graphs.push_back(e.path().filename().string());
  ASSERT_EQ(graphs.size(), 1u);
  EXPECT_EQ(graphs[0], fmt::format("vectors-{}.hnsw", generation()));
}

// int8 graph points against exact float search over the same vectors: every
// returned score is the exact float one, recall@10 stays high, filters hold,
// and the graph file is smaller.
TEST(Dense, Int8GraphRescoresWithFloatVectors) {
  test::TempDir t;
  auto emb = std::make_shared<test::HashEmbedder>(96);
  std::mt19937 rng(3);
  auto words = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += fmt::format("w{} ", rng() % 400);
    return s;
  };
  std::vector<TextDocument> docs;
  for (int i = 0; i < 600; ++i) docs.push_back({fmt::format("d{}", i), "", words(12)});
  IngestOptions half;
  half.collection = "half";
  std::vector<TextDocument> second(docs.begin() + 300, docs.end());
  docs.resize(300);
  auto open = [&](const std::string& name, size_t exact_below, const char* vectors) {
    IndexOptions o;
    o.writable = true;
    o.exact_below = exact_below;
    o.vectors = vectors;
    auto idx = Index::open(t / name, o);
    idx->set_embedder(emb);
    idx->ingest_texts(docs, IngestOptions{});
    idx->ingest_texts(second, half);
    return idx;
  };
  auto exact = open("exact", 100000, "f32");
  auto f32 = open("f32", 0, "f32");
  auto int8 = open("int8", 0, "int8");
  size_t found = 0, wanted = 0;
  for (int q = 0; q < 40; ++q) {
    const std::string query = words(4);
    for (bool filtered : {false, true}) {
      auto o = mode(SearchMode::Dense, 10);
      if (filtered) o.filter.collections = {"half"};
      auto a = exact->search(query, o), b = int8->search(query, o);
      ASSERT_EQ(a.hits.size(), 10u);
      ASSERT_EQ(b.hits.size(), 10u);
      std::map<int64_t, double> exact_score;
      for (const auto& h : exact->search(query, mode(SearchMode::Dense, 600)).hits) exact_score[h.chunk_id] = h.score;
      for (const auto& h : b.hits) {
        EXPECT_EQ(h.score, exact_score.at(h.chunk_id)) << query;  // re-scored with the stored floats
        if (filtered) {
          EXPECT_EQ(h.provenance.collection, "half");
        }
        // Recall by score, as the bag-of-words vectors tie: a hit counts when it scores
        // at least the exact 10th.
        found += h.score >= a.hits.back().score;
      }
      wanted += 10;
    }
  }
  EXPECT_GE(static_cast<double>(found) / static_cast<double>(wanted), 0.95);
  // rescore_depth k re-scores only the k best by int8 score (filtered, every allowed point is
  // scored, so those are the int8 codes' own top k, computed here); a depth of ef_search or
  // more re-scores all of them, as the default does.
  for (int q = 0; q < 10; ++q) {
    const std::string query = words(4);
    std::vector<unsigned char> qcode(int8_code_bytes(96)), code(int8_code_bytes(96));
    int8_encode(emb->embed({query}, true)[0].data(), 96, qcode.data());
    std::map<int64_t, float> int8_score;
    std::vector<float> ranked;
    auto o = mode(SearchMode::Dense, 10);
    o.filter.collections = {"half"};
    o.dense_depth = 10;  // the depth asked of the graph (at least the rescore depth)
    auto every = mode(SearchMode::Dense, 600);
    every.filter = o.filter;
    for (const auto& h : exact->search(query, every).hits) {
      int8_encode(emb->embed({h.text}, false)[0].data(), 96, code.data());
      ranked.push_back(int8_score[h.chunk_id] = int8_dot(qcode.data(), code.data(), 96));
    }
    ASSERT_EQ(ranked.size(), 300u);
    std::sort(ranked.begin(), ranked.end(), std::greater<>());
    o.rescore_depth = 10;
    const auto shallow = int8->search(query, o);
    ASSERT_EQ(shallow.hits.size(), 10u);
    for (const auto& h : shallow.hits) EXPECT_GE(int8_score.at(h.chunk_id), ranked[9]) << query;
    o.rescore_depth = o.ef_search;
    const auto deep = int8->search(query, o);
    o.rescore_depth = 0;
    const auto all = int8->search(query, o);
    ASSERT_EQ(deep.hits.size(), all.hits.size());
    for (size_t i = 0; i < all.hits.size(); ++i) EXPECT_EQ(deep.hits[i].chunk_id, all.hits[i].chunk_id);
  }
  auto graph_bytes = [&](const std::string& name) {
    for (const auto& e : std::filesystem::directory_iterator(t / name))
      if (e.path().extension() == ".hnsw") return std::filesystem::file_size(e.path());
    return std::uintmax_t{0};
  };
  // Per point: 96 floats (384 bytes) against 4 + 96 bytes, next to the same links and label.
  EXPECT_LT(graph_bytes("int8") + 600 * (384 - 100) / 2, graph_bytes("f32"));
  EXPECT_GT(graph_bytes("int8"), 0u);
}

TEST(Dense, EmbedderAddedToAnExistingIndexBackfillsVectors) {
  test::TempDir t;
  IndexOptions o;
  o.writable = true;
  auto idx = Index::open(t / "idx", o);
  idx->ingest_texts(animals(), IngestOptions{});
  EXPECT_EQ(idx->stats().vectors, 0u);
  idx->set_embedder(std::make_shared<test::HashEmbedder>());
  auto r = idx->ingest_texts(animals(), IngestOptions{});
  EXPECT_EQ(r.unchanged, 5u);
  EXPECT_EQ(idx->stats().vectors, 5u);
  EXPECT_EQ(idx->search("coral reef", mode(SearchMode::Dense)).hits.at(0).provenance.path, "fish");
}

TEST(Dense, HybridFusesAndFilters) {
  test::TempDir t;
  auto idx = build(t / "idx", std::make_shared<test::HashEmbedder>(), 1000);
  auto r = idx->search("owl night", mode(SearchMode::Hybrid, 5));
  ASSERT_FALSE(r.hits.empty());
  EXPECT_EQ(r.hits[0].provenance.path, "owl");
  ASSERT_TRUE(r.hits[0].scores.fused && r.hits[0].scores.bm25 && r.hits[0].scores.dense);
  EXPECT_DOUBLE_EQ(*r.hits[0].scores.fused, 2.0 / 61);  // first in both lists, k = 60
  EXPECT_EQ(*r.hits[0].scores.bm25_rank, 1u);
  EXPECT_GT(r.timings.total_ms, 0.0);
  auto f = mode(SearchMode::Dense, 5);
  f.filter.path_prefix = "b";
  auto only_bee = idx->search("owl night", f);
  ASSERT_EQ(only_bee.hits.size(), 1u);
  EXPECT_EQ(only_bee.hits[0].provenance.path, "bee");
  // Ingesting without the index's embedder is refused (vectors would be missing).
  IndexOptions o;
  o.writable = true;
  idx.reset();
  EXPECT_THROW(Index::open(t / "idx", o)->ingest_texts({{"x", "", "y"}}, IngestOptions{}), Error);
}

TEST(Dense, RerankAndSkipOnAgreement) {
  test::TempDir t;
  auto idx = build(t / "idx", std::make_shared<test::HashEmbedder>(), 1000);
  auto rr = std::make_shared<test::OverlapReranker>();
  idx->set_reranker(rr);
  auto o = mode(SearchMode::Bm25, 5);
  auto r = idx->search("mice", o);  // BM25 only: always reranked
  EXPECT_TRUE(r.reranked);
  EXPECT_EQ(r.hits[0].provenance.path, "owl");
  EXPECT_FLOAT_EQ(static_cast<float>(*r.hits[0].scores.rerank), 10.f);
  EXPECT_EQ(rr->calls, 1);
  // Hybrid with a single agreeing hit in both lists: overlap 1.0 >= 0.8, skipped.
  o = mode(SearchMode::Hybrid, 1);
  o.bm25_depth = o.dense_depth = 1;
  r = idx->search("honey hive bees", o);
  EXPECT_FALSE(r.reranked);
  EXPECT_FALSE(r.rerank_note.empty());
  EXPECT_EQ(rr->calls, 1);
  o.rerank_skip_agreement = 2;  // never skip
  EXPECT_TRUE(idx->search("honey hive bees", o).reranked);
  EXPECT_EQ(rr->calls, 2);
}

TEST(Dense, SyntheticGgufEncoderEndToEnd) {
  test::TempDir t;
  auto emb = load_embedder(test::model_path("synth-bert-embed.gguf"));
  ASSERT_GT(emb->dim(), 0);
  EXPECT_GT(emb->count_tokens("hello world"), 0u);
  auto v = emb->embed({"hello world", "another text"}, false);
  ASSERT_EQ(v.size(), 2u);
  double norm = 0;
  for (float x : v[0]) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_THROW(load_embedder(test::model_path("synth-bert-rerank.gguf")), Error);

  auto idx = build(t / "idx", emb, 1000);
  EXPECT_EQ(idx->recorded_embedder(), emb->name());
  auto d = idx->search("The cat sleeps on the warm sofa all afternoon.", mode(SearchMode::Dense, 5));
  ASSERT_EQ(d.hits.size(), 5u);
  for (size_t i = 1; i < d.hits.size(); ++i) EXPECT_GE(d.hits[i - 1].score, d.hits[i].score);
  auto h = idx->search("owl mice night", mode(SearchMode::Hybrid, 5));
  EXPECT_EQ(h.hits.size(), 5u);
  EXPECT_TRUE(h.hits[0].scores.fused.has_value());
  idx->set_reranker(load_reranker(test::model_path("synth-bert-rerank.gguf")));
  auto o = mode(SearchMode::Hybrid, 5);
  o.rerank_skip_agreement = 2;
  auto r = idx->search("owl mice night", o);
  EXPECT_TRUE(r.reranked);
  ASSERT_EQ(r.hits.size(), 5u);
  for (const auto& hit : r.hits) EXPECT_TRUE(hit.scores.rerank.has_value());
  for (size_t i = 1; i < r.hits.size(); ++i) EXPECT_GE(*r.hits[i - 1].scores.rerank, *r.hits[i].scores.rerank);
}

}  // namespace
}  // namespace edgerag::rag
