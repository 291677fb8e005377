// Index snapshots (rag/index_snapshot.h): taken while another process ingests,
// each is one commit of the writer (a prefix of its documents), passes SQLite's
// integrity check, and answers BM25 and dense queries as an index built from
// exactly those documents does; the output folder is never overwritten unless asked.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "fixtures.h"
#include "rag/index.h"
#include "rag/index_snapshot.h"
#include "rag/sqlite_db.h"
#include "test_embedder.h"

namespace edgerag::rag {
namespace {

namespace fs = std::filesystem;

TextDocument note(int i) {
  return {fmt::format("d{:05}", i), "",
          fmt::format("Note {} about topic{} and theme{}. The river{} passes mill{} in season{}.", i, i % 37, i % 11,
                      i % 7, i, i % 5)};
}

std::string pragma(const std::string& db_path, const char* sql) {
  Db db(db_path, false);
  auto st = db.prepare(sql);
  return st.step() ? st.text(0) : "";
}

std::vector<std::string> document_keys(Index& idx) {
  std::vector<std::string> keys;
  for (const auto& d : idx.documents("default", 1000000)) keys.push_back(d.path);
  return keys;
}

SearchOptions mode(SearchMode m, size_t k) {
  SearchOptions o;
  o.mode = m;
  o.k = k;
  o.ef_search = 2000;
  return o;
}

std::map<int64_t, double> hits(Index& idx, const std::string& q, const SearchOptions& o) {
  std::map<int64_t, double> out;
  for (const auto& h : idx.search(q, o).hits) out[h.chunk_id] = h.score;
  return out;
}

TEST(IndexSnapshot, TakenDuringAnIngestIsOneCommitOfTheWriter) {
  test::TempDir t;
  const std::string dir = t / "writer", stop = t / "stop";
  auto emb = std::make_shared<test::HashEmbedder>();
  {
    IndexOptions o;
    o.writable = true;
    o.exact_below = 0;  // the HNSW graph from the first vector: its files are copied too
    auto idx = Index::open(dir, o);
    idx->set_embedder(emb);
    idx->ingest_texts({note(0)}, IngestOptions{});
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the writer: one commit and one graph save per document until told to stop
    int code = 0;
    try {
      IndexOptions o;
      o.writable = true;
      auto idx = Index::open(dir, o);
      idx->set_embedder(emb);
      for (int i = 1; i < 20000 && !fs::exists(stop); ++i) idx->ingest_texts({note(i)}, IngestOptions{});
    } catch (...) {
      code = 1;
    }
    _exit(code);
  }
  std::vector<SnapshotReport> snaps;
  size_t last = 0;
  for (int attempt = 0; attempt < 4000 && snaps.size() < 4; ++attempt) {
    SnapshotReport r = snapshot_index(dir, t / fmt::format("snap{}", snaps.size()));
    if (r.documents > last + 3) {  // the writer moved on since the previous one
      last = r.documents;
      snaps.push_back(r);
    } else {
      fs::remove_all(r.dir);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), 0) << "the writer stopped before the snapshots were taken";
  test::write_file(stop, "");
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(snaps.size(), 4u);

  auto writer = Index::open(dir);
  const size_t final_docs = writer->stats().documents;
  for (const auto& r : snaps) {
    SCOPED_TRACE(r.dir);
    EXPECT_LT(r.documents, final_docs);
    EXPECT_EQ(pragma(r.dir + "/index.sqlite", "PRAGMA integrity_check"), "ok");
    EXPECT_EQ(pragma(r.dir + "/index.sqlite", "PRAGMA journal_mode"), "delete");
    EXPECT_TRUE(r.graph);
    EXPECT_TRUE(fs::exists(r.dir + fmt::format("/vectors-{}.hnsw", r.vector_generation)));
    EXPECT_FALSE(fs::exists(r.dir + "/write.lock"));
    auto snap = Index::open(r.dir);
    snap->set_embedder(emb);
    // One commit: the first n documents of the writer, whole.
    std::vector<TextDocument> docs;
    for (size_t i = 0; i < r.documents; ++i) docs.push_back(note(static_cast<int>(i)));
    std::vector<std::string> keys;
    for (const auto& d : docs) keys.push_back(d.key);
    ASSERT_EQ(document_keys(*snap), keys);
    EXPECT_EQ(snap->stats().chunks, r.chunks);
    EXPECT_EQ(r.vectors, r.chunks);
    // The writer at that commit: an index of exactly those documents (same chunk ids).
    IndexOptions ro;
    ro.writable = true;
    auto ref = Index::open(t / fmt::format("ref{}", r.documents), ro);
    ref->set_embedder(emb);
    ref->ingest_texts(docs, IngestOptions{});
    for (const char* q : {"river3 mill", "topic5 theme2", "note about season4"}) {
      SCOPED_TRACE(q);
      EXPECT_EQ(hits(*snap, q, mode(SearchMode::Bm25, 10)), hits(*ref, q, mode(SearchMode::Bm25, 10)));
      // Every vector of the commit is in the copied graph, with its exact score.
      const auto dense = hits(*snap, q, mode(SearchMode::Dense, r.chunks + 10));
      const auto exact = hits(*ref, q, mode(SearchMode::Dense, r.chunks + 10));
      ASSERT_EQ(dense.size(), exact.size());
      for (const auto& [id, score] : exact) {
        ASSERT_TRUE(dense.count(id)) << id;
        EXPECT_NEAR(dense.at(id), score, 1e-5);
      }
    }
  }
}

TEST(IndexSnapshot, RefusesToOverwriteUnlessToldAndThenReplacesWhole) {
  test::TempDir t;
  const std::string dir = t / "idx";
  IndexOptions o;
  o.writable = true;
  auto idx = Index::open(dir, o);
  idx->ingest_texts({note(0)}, IngestOptions{});
  const std::string out = t / "published/snap";
  EXPECT_EQ(snapshot_index(dir, out).documents, 1u);
  EXPECT_NE(test::error_of([&] { snapshot_index(dir, out); }).find("exists (replace it with --force)"),
            std::string::npos);
  idx->ingest_texts({note(1), note(2)}, IngestOptions{});
  EXPECT_EQ(snapshot_index(dir, out, {.replace = true}).documents, 3u);
  EXPECT_EQ(Index::open(out)->stats().documents, 3u);
  for (const auto& e : fs::directory_iterator(t / "published"))  // no temporary folder left behind
    EXPECT_EQ(e.path().filename(), "snap");
  EXPECT_NE(test::error_of([&] { snapshot_index(dir, dir, {.replace = true}); }).find("cannot replace the index"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { snapshot_index(t / "nothing", t / "x"); }).find("no index at"), std::string::npos);
  EXPECT_FALSE(fs::exists(t / "x"));
}

}  // namespace
}  // namespace edgerag::rag
