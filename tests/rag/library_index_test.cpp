// The index as the web page and `edgerag ingest` see it: collections and their
// documents listed and removed, the stages an ingest reports per file, and
// the progress text of the CLI.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "rag/index.h"
#include "rag/ingest_progress.h"

namespace edgerag::rag {
namespace {

using test::write_file;

TEST(LibraryIndex, CollectionsDocumentsAndStages) {
  test::TempDir t;
  write_file(t / "docs/a.txt", "Kernels fuse matmul and softmax.\n\nCaches keep weights warm.\n");
  write_file(t / "docs/b.md", "# Boats\n\nThe little boat sailed across the lake.\n");
  write_file(t / "docs/c.pdf", "%PDF-1.4 not really");
  IndexOptions o;
  o.writable = true;
  auto idx = Index::open(t / "idx", o);
  std::vector<std::pair<std::string, std::string>> seen;  // stage, file name
  IngestOptions io;
  io.collection = "papers";
  auto rep = idx->ingest({t / "docs"}, io, [&](const IngestProgress& p) {
    seen.emplace_back(ingest_stage_name(p.stage), std::filesystem::path(p.current).filename().string());
  });
  EXPECT_EQ(rep.added, 2u);
  EXPECT_EQ(rep.failed, 1u);
  // Parse and chunk per readable file, done per file, then one embed-and-write batch.
  const std::vector<std::pair<std::string, std::string>> want = {
      {"parse", "a.txt"}, {"chunk", "a.txt"}, {"done", "a.txt"}, {"parse", "b.md"}, {"chunk", "b.md"},
      {"done", "b.md"},   {"parse", "c.pdf"}, {"done", "c.pdf"}, {"embed", "c.pdf"}};
  EXPECT_EQ(seen, want);

  idx->collection_id("empty");  // created with no documents
  auto cols = idx->collections();
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].name, "empty");
  EXPECT_EQ(cols[0].documents, 0u);
  EXPECT_EQ(cols[1].name, "papers");
  EXPECT_EQ(cols[1].documents, 2u);
  EXPECT_EQ(cols[1].chunks, idx->stats().chunks);

  auto docs = idx->documents("papers", 10);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].path, t / "docs/a.txt");
  EXPECT_EQ(docs[0].file_type, "txt");
  EXPECT_EQ(docs[0].size, 60);
  EXPECT_GT(docs[0].ingested_at, 1600000000);
  EXPECT_EQ(docs[1].title, "Boats");
  EXPECT_EQ(idx->documents("papers", 1).size(), 1u);
  EXPECT_TRUE(idx->documents("nothing", 10).empty());

  EXPECT_EQ(idx->remove_collection("papers"), 2u);
  EXPECT_EQ(idx->stats().chunks, 0u);
  SearchOptions so;
  so.mode = SearchMode::Bm25;
  EXPECT_TRUE(idx->search("boat", so).hits.empty());
  EXPECT_EQ(idx->remove_collection("empty"), 0u);
  EXPECT_TRUE(idx->collections().empty());
}

TEST(LibraryIndex, ProgressText) {
  IngestProgress p;
  p.files_done = 5;
  p.files_total = 20;
  p.chunks = 100;
  p.seconds = 4;
  p.current = "/very/long/folder/name/notes/meeting.md";
  EXPECT_DOUBLE_EQ(ingest_eta_seconds(p), 12);
  EXPECT_EQ(ingest_progress_text(p, false), "ingest: 5/20 files, 100 chunks, 25.0 chunks/s, ETA 0:12");
  EXPECT_EQ(ingest_progress_text(p, true, 200),
            "[#####...............] 5/20 files  100 chunks  25.0 chunks/s  ETA 0:12  "
            "/very/long/folder/name/notes/meeting.md");
  // A narrow terminal keeps the end of the name, and never more than the width.
  const std::string narrow = ingest_progress_text(p, true, 90);
  EXPECT_EQ(narrow.size(), 90u);
  EXPECT_TRUE(narrow.ends_with("  ...otes/meeting.md")) << narrow;
  EXPECT_EQ(ingest_progress_text(p, true, 40).size(), 40u);
  p.files_done = 0;
  EXPECT_LT(ingest_eta_seconds(p), 0);
  EXPECT_EQ(ingest_progress_text(p, false), "ingest: 0/20 files, 100 chunks, 25.0 chunks/s, ETA ?");
  p.files_done = 20;
  p.files_total = 20;
  p.seconds = 4000;
  p.chunks = 0;
  EXPECT_EQ(ingest_progress_text(p, false), "ingest: 20/20 files, 0 chunks, 0.0 chunks/s, ETA 0:00");
}

}  // namespace
}  // namespace edgerag::rag
