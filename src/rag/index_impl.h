// The Index implementation shared by index.cpp (open, ingest) and
// index_search.cpp (search); not part of the public API.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rag/bm25_index.h"
#include "rag/chunker.h"
#include "rag/index.h"
#include "rag/sqlite_db.h"
#include "rag/vector_index.h"
#include "util/thread_pool.h"

namespace edgerag::rag {

// The writer lock: an flock'ed file descriptor, closed (and the lock
// released) however the index goes away, including a constructor that throws.
class LockFile {
 public:
  LockFile() = default;
  explicit LockFile(int fd) : fd_(fd) {}
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// A document waiting to be embedded and written.
struct PendingDoc {
  std::string collection, path, file_type, title, hash;
  int64_t size = 0, mtime = 0;
  bool is_file = true;
  int64_t replaces = 0;  // id of the document it replaces, 0 if new
  std::vector<Chunk> chunks;
};

// The BM25 terms of pending documents' chunks, counted off the writer's thread:
// runs of consecutive chunks (numbered in document order), each with its first.
using TermRuns = std::vector<std::pair<size_t, Bm25Index::Run>>;

class IndexImpl final : public Index {
 public:
  IndexImpl(std::string dir, const IndexOptions& opt);
  ~IndexImpl() override;

  void set_embedder(std::shared_ptr<Embedder> embedder) override;
  void set_reranker(std::shared_ptr<Reranker> reranker) override;
  std::string recorded_embedder() const override;
  IngestReport ingest(const std::vector<std::string>& paths, const IngestOptions& options,
                      const ProgressFn& progress) override;
  IngestReport ingest_texts(const std::vector<TextDocument>& docs, const IngestOptions& options,
                            const ProgressFn& progress) override;
  bool remove(const std::string& collection, const std::string& path) override;
  int64_t collection_id(const std::string& name) override;
  std::vector<CollectionInfo> collections() override;
  std::vector<DocumentInfo> documents(const std::string& collection, size_t limit) override;
  size_t remove_collection(const std::string& name) override;
  int64_t data_version(const std::vector<std::string>& collections) override;
  SearchResponse search(const std::string& query, const SearchOptions& options) override;
  std::optional<SearchHit> chunk(int64_t chunk_id) override;
  std::vector<int64_t> chunk_ids(const std::string& collection) override;
  IndexStats stats() override;
  const std::string& dir() const override { return dir_; }

 private:
  struct Existing {
    int64_t id = 0, size = 0, mtime = 0;
    std::string hash;
  };
  std::string meta(const std::string& key, const std::string& fallback = "") const;
  void set_meta(const std::string& key, const std::string& value);
  void create_or_load_schema(const IndexOptions& opt);
  // Re-tokenizes every chunk (FTS5 table and BM25 postings) after the text
  // normalization changed (rag/text_fold.h); writable indexes only.
  void rebuild_text_index(const std::string& spec);
  int64_t last_chunk_id() const;  // 0 when there are none
  // Adds the chunks ingested since the FTS5 table's last use to it (one
  // transaction); ingest does not write it, only the exhaustive scorer and the
  // fallback read it. On a read-only open with chunks missing there, it fails.
  void complete_fts();
  void require_writable() const;
  TokenCounter token_counter() const;
  std::optional<Existing> find_document(const std::string& collection, const std::string& path);
  void delete_document(int64_t doc_id);
  // Embeds and writes the pending documents in one transaction; their BM25
  // terms are counted on the ingest threads first, the writer merges them.
  // Chunks go to the embedder `embed_batch` at a time.
  void flush(std::vector<PendingDoc>& pending, size_t embed_batch, IngestReport& report);
  // flush() with the terms already counted (gather_terms of exactly these documents).
  void write_batch(std::vector<PendingDoc>& pending, TermRuns runs, size_t embed_batch, IngestReport& report);
  // Counts the chunks' BM25 terms on the ingest threads (`parallel`), else on this
  // one; touches no database, so it may run beside the writer.
  TermRuns gather_terms(const std::vector<PendingDoc>& pending, bool parallel);
  // The threads that chunk and tokenize ingested text and a term gatherer for
  // each (made on first use, on the writer's thread).
  ThreadPool& ingest_pool();
  // Checks shared by ingest() and ingest_texts() (caller holds mu_); backfills missing vectors.
  IngestReport start_ingest(const IngestOptions& options);
  void finish_ingest();
  // Embeds chunks that have no vector yet (an embedder added to a BM25-only index).
  size_t backfill_vectors(size_t batch);
  VectorIndex* vectors();  // null when the index has no dense vectors

  // search stages (index_search.cpp)
  std::vector<std::pair<int64_t, double>> bm25(const std::string& query, size_t depth, const SearchFilter& f,
                                               bool exhaustive);
  std::vector<std::pair<int64_t, double>> dense(const std::vector<float>& q, size_t depth, const SearchOptions& o);
  std::vector<int64_t> filtered_chunks(const SearchFilter& f);
  // filtered_chunks sorted, kept while no chunk is written (BM25 filters reuse it).
  const std::vector<int64_t>& allowed_chunks(const SearchFilter& f);
  void expand_neighbors(std::vector<SearchHit>& hits, size_t n);

  std::string dir_;
  bool writable_;
  std::unique_ptr<LockFile> lock_;  // declared before db_: released after it closes
  std::unique_ptr<Db> db_;
  IndexOptions opt_;  // as recorded in the index
  std::string stopwords_;
  std::shared_ptr<Embedder> embedder_;
  std::shared_ptr<Reranker> reranker_;
  std::unique_ptr<VectorIndex> vectors_;
  std::unique_ptr<Bm25Index> postings_;  // BM25 inverted index (rag/bm25_index)
  std::unique_ptr<ThreadPool> ingest_pool_;
  std::vector<std::unique_ptr<Bm25Index::Gatherer>> gatherers_;  // one per pool thread, then the writer's
  struct {
    std::string key;
    int64_t generation = -1;
    std::vector<int64_t> ids;
  } allowed_;  // allowed_chunks() of the last filter
  std::mutex mu_;  // one operation at a time on the connection
};

// "headings\ntext": what embedders and rerankers see of a chunk.
std::string passage_text(const std::string& headings, const std::string& text);

}  // namespace edgerag::rag
