// Index end to end: ingest a folder of every format, BM25 search with
// provenance, incremental re-ingest, pruning, filters, collections, the
// writer lock and a crash (SIGKILL) in the middle of an ingest.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "fixtures.h"
#include "rag/index.h"
#include "rag/sqlite_db.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

using test::write_file;

std::unique_ptr<Index> open_rw(const std::string& dir) {
  IndexOptions o;
  o.writable = true;
  return Index::open(dir, o);
}

SearchOptions bm25(size_t k = 5) {
  SearchOptions o;
  o.mode = SearchMode::Bm25;
  o.k = k;
  return o;
}

std::string top_path(Index& idx, const std::string& q, SearchOptions o = bm25()) {
  auto r = idx.search(q, o);
  return r.hits.empty() ? "" : r.hits[0].provenance.path;
}

void write_corpus(const test::TempDir& t) {
  write_file(t / "docs/notes.txt", "Kernels fuse matmul and softmax.\n\nCaches keep weights warm.\n");
  write_file(t / "docs/guide.md", "# Guide\n\n## Install\n\nUse the bookworm packages for sqlite.\n");
  write_file(t / "docs/page.html", "<html><body><h1>Web</h1><p>Gumbo parses tangled markup.</p></body></html>");
  write_file(t / "docs/table.csv", "city,country\nLisbon,Portugal\nKyoto,Japan\n");
  write_file(t / "docs/rows.jsonl", "{\"animal\": \"okapi\", \"home\": \"rainforest\"}\n");
  write_file(t / "docs/deck.pptx", test::make_zip({{"ppt/slides/slide1.xml", test::pptx_slide("Deck", {"Quantized llamas graze."})}}));
  write_file(t / "docs/report.docx", test::make_docx(test::docx_para("Findings", "Heading1") +
                                                     test::docx_para("Tesseract reads scanned invoices.")));
  write_file(t / "docs/paper.pdf", test::make_pdf({"Intro page.", "Hierarchical navigable small worlds."}));
  write_file(t / "docs/broken.pdf", "%PDF-1.4 this is not a pdf");
  write_file(t / "docs/binary.bin", std::string("\x7f" "ELF\0\0", 6));
  write_file(t / "docs/.hidden.txt", "never indexed zebra");
}

TEST(Index, IngestsEveryFormatAndSearchesWithProvenance) {
  test::TempDir t;
  write_corpus(t);
  auto idx = open_rw(t / "idx");
  auto r = idx->ingest({t / "docs"}, IngestOptions{});
  EXPECT_EQ(r.files_seen, 10u);
  EXPECT_EQ(r.added, 8u);
  EXPECT_EQ(r.failed, 2u);  // broken pdf, unknown type: reported, the rest goes on
  ASSERT_EQ(r.failures.size(), 2u);
  EXPECT_NE(r.failures[0].first.find("binary.bin"), std::string::npos);
  EXPECT_NE(r.failures[1].first.find("broken.pdf"), std::string::npos);

  struct Case {
    const char* query;
    const char* file;
    const char* type;
  };
  for (const Case& c : {Case{"softmax kernels", "notes.txt", "txt"}, Case{"bookworm packages", "guide.md", "md"},
                        Case{"tangled markup", "page.html", "html"}, Case{"Kyoto", "table.csv", "csv"},
                        Case{"okapi", "rows.jsonl", "jsonl"}, Case{"llamas", "deck.pptx", "pptx"},
                        Case{"scanned invoices", "report.docx", "docx"}, Case{"navigable worlds", "paper.pdf", "pdf"}}) {
    auto res = idx->search(c.query, bm25());
    ASSERT_FALSE(res.hits.empty()) << c.query;
    EXPECT_EQ(res.hits[0].provenance.path, t / (std::string("docs/") + c.file)) << c.query;
    EXPECT_EQ(res.hits[0].provenance.file_type, c.type);
    EXPECT_TRUE(res.hits[0].scores.bm25.has_value());
  }
  EXPECT_TRUE(idx->search("zebra", bm25()).hits.empty());

  auto md = idx->search("bookworm", bm25()).hits.at(0);
  EXPECT_EQ(md.provenance.headings, "Guide > Install");
  EXPECT_EQ(md.provenance.title, "Guide");
  std::string md_file = test::read_text(t / "docs/guide.md");
  EXPECT_EQ(md_file.substr(md.provenance.byte_begin, md.provenance.byte_end - md.provenance.byte_begin), md.text);
  auto pdf = idx->search("navigable", bm25()).hits.at(0);
  EXPECT_EQ(pdf.provenance.page, 2);
  auto csv = idx->search("Kyoto", bm25()).hits.at(0);
  EXPECT_EQ(csv.text, "city,country\nLisbon,Portugal\nKyoto,Japan");
  EXPECT_EQ(csv.provenance.row_begin, 1);
  EXPECT_EQ(csv.provenance.row_end, 2);
  auto docx = idx->search("invoices", bm25()).hits.at(0);
  EXPECT_EQ(docx.provenance.headings, "Findings");
  // Stemming and stop words: "kernel" matches "Kernels"; a stop-word-only query finds nothing.
  EXPECT_EQ(top_path(*idx, "the kernel"), t / "docs/notes.txt");
  EXPECT_TRUE(idx->search("the of and", bm25()).hits.empty());
  EXPECT_TRUE(idx->search("\"unbalanced ( NEAR * quotes", bm25()).hits.empty());
}

// The exhaustive scorer's mark is read from the index file: a corrupted one is a clear error, not a crash.
TEST(Index, CorruptFtsMarkIsAnError) {
  test::TempDir t;
  write_corpus(t);
  open_rw(t / "idx")->ingest({t / "docs"}, IngestOptions{});
  for (const char* bad : {"x", "12abc", "-5", "99999999999999999999999"}) {
    {
      Db db(t / "idx/index.sqlite", true);
      db.prepare("UPDATE meta SET value = ?1 WHERE key = 'fts_through'").bind(1, std::string(bad)).run();
    }
    SearchOptions exhaustive = bm25(20);
    exhaustive.bm25_exhaustive = true;
    EXPECT_THROW(open_rw(t / "idx")->search("sqlite", exhaustive), Error) << bad;
  }
}

TEST(Index, IncrementalReingest) {
  test::TempDir t;
  write_corpus(t);
  auto idx = open_rw(t / "idx");
  idx->ingest({t / "docs"}, IngestOptions{});
  size_t chunks = idx->stats().chunks;

  auto again = idx->ingest({t / "docs"}, IngestOptions{});
  EXPECT_EQ(again.unchanged, 8u);
  EXPECT_EQ(again.added + again.updated, 0u);
  EXPECT_EQ(idx->stats().chunks, chunks);

  write_file(t / "docs/notes.txt", "Kernels were rewritten with tiling.\n");  // changed
  std::filesystem::remove(t / "docs/guide.md");                             // deleted
  write_file(t / "docs/new.txt", "A brand new quokka document.\n");         // added
  auto r = idx->ingest({t / "docs"}, IngestOptions{});
  EXPECT_EQ(r.updated, 1u);
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(r.removed, 0u);  // no --prune: the deleted file stays indexed
  EXPECT_EQ(top_path(*idx, "bookworm"), t / "docs/guide.md");
  EXPECT_TRUE(idx->search("softmax", bm25()).hits.empty());  // old content is gone
  EXPECT_EQ(top_path(*idx, "tiling"), t / "docs/notes.txt");
  EXPECT_EQ(top_path(*idx, "quokka"), t / "docs/new.txt");

  IngestOptions prune;
  prune.prune = true;
  r = idx->ingest({t / "docs"}, prune);
  EXPECT_EQ(r.removed, 1u);
  EXPECT_TRUE(idx->search("bookworm", bm25()).hits.empty());
  EXPECT_EQ(idx->stats().documents, 8u);

  // Touching a file without changing it re-hashes it but keeps it.
  std::filesystem::last_write_time(t / "docs/new.txt", std::filesystem::file_time_type::clock::now());
  r = idx->ingest({t / "docs/new.txt"}, IngestOptions{});
  EXPECT_EQ(r.unchanged, 1u);
}

TEST(Index, CollectionsAndFilters) {
  test::TempDir t;
  write_file(t / "a/x.txt", "shared term alpha");
  write_file(t / "a/y.md", "shared term beta");
  write_file(t / "b/z.txt", "shared term gamma");
  auto idx = open_rw(t / "idx");
  idx->ingest({t / "a"}, IngestOptions{});
  IngestOptions other;
  other.collection = "books";
  idx->ingest({t / "b"}, other);
  EXPECT_EQ(idx->stats().collections, (std::vector<std::string>{"books", "default"}));
  EXPECT_EQ(idx->search("shared term", bm25(10)).hits.size(), 3u);
  auto o = bm25(10);
  o.filter.collections = {"books"};
  auto r = idx->search("shared term", o);
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].provenance.collection, "books");
  o = bm25(10);
  o.filter.file_types = {"md"};
  EXPECT_EQ(top_path(*idx, "shared", o), t / "a/y.md");
  o = bm25(10);
  o.filter.path_prefix = t / "a";
  EXPECT_EQ(idx->search("shared", o).hits.size(), 2u);
  o.filter.file_types = {"txt"};
  EXPECT_EQ(idx->search("shared", o).hits.size(), 1u);
  EXPECT_TRUE(idx->remove("books", t / "b/z.txt"));
  EXPECT_FALSE(idx->remove("books", t / "b/z.txt"));
  EXPECT_EQ(idx->search("gamma", bm25()).hits.size(), 0u);
}

TEST(Index, NeighbourExpansion) {
  test::TempDir t;
  std::string text;
  for (int i = 0; i < 6; ++i) text += "Sentence number " + std::to_string(i) + " word" + std::to_string(i) + ". ";
  write_file(t / "d.txt", text);
  auto idx = open_rw(t / "idx");
  IngestOptions opt;
  opt.chunk = {4, 0, 1};  // one sentence per chunk
  idx->ingest({t / "d.txt"}, opt);
  auto o = bm25(1);
  o.expand_neighbors = 1;
  auto r = idx->search("word3", o);
  ASSERT_EQ(r.hits.size(), 3u);
  EXPECT_TRUE(r.hits[0].neighbor);
  EXPECT_EQ(r.hits[0].provenance.chunk_index, 2);
  EXPECT_FALSE(r.hits[1].neighbor);
  EXPECT_EQ(r.hits[1].provenance.chunk_index, 3);
  EXPECT_EQ(r.hits[2].provenance.chunk_index, 4);
}

TEST(Index, OneWriterManyReaders) {
  test::TempDir t;
  write_file(t / "d.txt", "lock test");
  auto writer = open_rw(t / "idx");
  writer->ingest({t / "d.txt"}, IngestOptions{});
  // The lock is per process (flock on a file): a second writer in a child fails.
  pid_t pid = fork();
  if (pid == 0) {
    bool refused = false;
    try {
      open_rw(t / "idx");
    } catch (const Error&) {
      refused = true;
    }
    _exit(refused ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto reader = Index::open(t / "idx");
  EXPECT_EQ(reader->search("lock", bm25()).hits.size(), 1u);
  EXPECT_THROW(reader->ingest({t / "d.txt"}, IngestOptions{}), Error);
  EXPECT_THROW(Index::open(t / "missing"), Error);
}

TEST(Index, SurvivesKillDuringIngest) {
  test::TempDir t;
  const int n_files = 400;
  for (int i = 0; i < n_files; ++i)
    write_file(t / fmt::format("docs/f{:03d}.txt", i),
               fmt::format("Document {} mentions token{} among filler words about storage engines.\n\n"
                           "A second paragraph of document {} keeps the writer busy.", i, i, i));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      IngestOptions opt;
      opt.chunk = {8, 0, 1};  // many small chunks: a longer ingest
      open_rw(t / "idx")->ingest({t / "docs"}, opt);
    } catch (...) {
    }
    _exit(0);
  }
  // Kill the writer as soon as some documents are committed.
  bool killed_mid_way = false;
  for (int i = 0; i < 20000 && !killed_mid_way; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (!std::filesystem::exists(t / "idx/index.sqlite")) continue;
    try {
      Db db(t / "idx/index.sqlite", false);
      auto st = db.prepare("SELECT count(*) FROM documents");
      if (st.step() && st.i64(0) > 0) {
        kill(pid, SIGKILL);
        killed_mid_way = st.i64(0) < n_files;
        break;
      }
    } catch (const Error&) {  // schema not there yet
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(killed_mid_way);

  // It opens and answers for what was committed...
  auto reader = Index::open(t / "idx");
  size_t before = reader->stats().documents;
  EXPECT_GT(before, 0u);
  EXPECT_LT(before, static_cast<size_t>(n_files));
  EXPECT_FALSE(reader->search("storage engines", bm25()).hits.empty());
  // Ingest leaves the exhaustive scorer's FTS5 rows to its first use: a reader cannot add them.
  SearchOptions exhaustive = bm25(20);
  exhaustive.bm25_exhaustive = true;
  EXPECT_THROW(reader->search("storage engines", exhaustive), Error);
  reader.reset();
  // The BM25 postings hold exactly the committed chunks: they rank like FTS5
  // (whose rows the writer's first exhaustive search adds from the chunks).
  auto idx = open_rw(t / "idx");
  for (const char* q : {"storage engines", "document mentions token3", "second paragraph busy"}) {
    auto a = idx->search(q, bm25(20)), b = idx->search(q, exhaustive);
    ASSERT_EQ(a.hits.size(), b.hits.size()) << q;
    for (size_t i = 0; i < a.hits.size(); ++i) {
      EXPECT_EQ(a.hits[i].chunk_id, b.hits[i].chunk_id) << q;
      EXPECT_EQ(a.hits[i].score, b.hits[i].score) << q;
    }
  }
  // ...and re-running the ingest completes the work, without duplicates.
  IngestOptions opt;
  opt.chunk = {8, 0, 1};
  auto r = idx->ingest({t / "docs"}, opt);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.unchanged, before);
  EXPECT_EQ(r.added, n_files - before);
  EXPECT_EQ(idx->stats().documents, static_cast<size_t>(n_files));
  for (int i : {0, n_files / 2, n_files - 1}) {
    auto res = idx->search(fmt::format("token{}", i), bm25(3));
    ASSERT_EQ(res.hits.size(), 1u) << i;
    EXPECT_EQ(res.hits[0].provenance.path, t / fmt::format("docs/f{:03d}.txt", i));
  }
  // FTS5 holds the chunks up to its mark, then all of them once an exhaustive search completed it.
  const char* kFtsRows =
      "SELECT (SELECT count(*) FROM chunks_fts_docsize), (SELECT count(*) FROM chunks WHERE id <= "
      "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_through')), (SELECT count(*) FROM chunks)";
  {
    Db db(t / "idx/index.sqlite", false);
    auto fts = db.prepare(kFtsRows);
    ASSERT_TRUE(fts.step());
    EXPECT_EQ(fts.i64(0), fts.i64(1));
    EXPECT_LT(fts.i64(0), fts.i64(2));
  }
  idx->search("storage", exhaustive);
  idx.reset();
  Db db(t / "idx/index.sqlite", false);
  auto fts = db.prepare(kFtsRows);
  ASSERT_TRUE(fts.step());
  EXPECT_EQ(fts.i64(0), fts.i64(2));
  auto postings = db.prepare("SELECT docs = (SELECT count(*) FROM chunks) FROM bm25_stats");
  ASSERT_TRUE(postings.step());
  EXPECT_EQ(postings.i64(0), 1);
}

}  // namespace
}  // namespace edgerag::rag
