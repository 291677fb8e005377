// An edgerag index: one directory holding a SQLite database (documents, chunks,
// provenance, FTS5 for BM25) and the dense vectors' ANN index next to it.
//
//   auto idx = Index::open("idx", {.writable = true});
//   idx->set_embedder(load_embedder(path));        // optional: dense vectors
//   idx->ingest({"docs/"}, IngestOptions{});
//   auto res = idx->search("query", SearchOptions{});
//
// One writer at a time (a lock file; open(writable) fails while another
// process writes), any number of readers. Every file is committed in its own
// transaction, so a crash leaves an index that opens and answers, and running
// ingest again completes the work.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rag/embedder.h"
#include "rag/ingest_types.h"
#include "rag/search_types.h"

namespace edgerag::rag {

struct IndexOptions {
  bool writable = false;          // take the writer lock; create the index if missing
  // Fixed when the index is created (later opens use the recorded values):
  bool stemming = true;           // Porter stemming for BM25
  std::string stopwords = "english";  // "english" (Lucene's list) or "none"
  double bm25_k1 = 0.9, bm25_b = 0.4;  // Lucene BM25 parameters (Anserini defaults)
  int hnsw_m = 16;
  int hnsw_ef_construction = 200;
  size_t exact_below = 20000;     // exact (brute-force) dense search below this many vectors
  std::string vectors = "f32";    // HNSW graph points: "f32", or "int8" (a quarter of the memory,
                                  // candidates re-scored with the float vectors; rag/int8_codes.h)
};

struct IndexStats {
  size_t documents = 0, chunks = 0, vectors = 0;
  uint64_t bytes_on_disk = 0;
  std::string embedder;           // recorded embedding model ("" = none)
  int dim = 0;
  std::vector<std::string> collections;
};

// One document as listed (GET /v1/documents, the page's document table).
struct DocumentInfo {
  std::string path;        // file path, or the key of a text document
  std::string file_type, title;
  int64_t size = 0;        // bytes of the file (or of the text)
  size_t chunks = 0;
  int64_t ingested_at = 0; // Unix seconds of the last (re)ingest
};

struct CollectionInfo {
  std::string name;
  size_t documents = 0, chunks = 0;
};

class Index {
 public:
  static std::unique_ptr<Index> open(const std::string& dir, const IndexOptions& options = {});
  virtual ~Index() = default;

  // The embedder for dense vectors (ingest) and dense/hybrid queries. Its name
  // must match the one recorded in the index once vectors exist.
  virtual void set_embedder(std::shared_ptr<Embedder> embedder) = 0;
  virtual void set_reranker(std::shared_ptr<Reranker> reranker) = 0;
  // The embedding model recorded at ingest ("" when none): what to load by default.
  virtual std::string recorded_embedder() const = 0;

  // Files and folders (recursive). Unchanged files are skipped, changed ones
  // replaced; broken or unknown files are reported in the result and skipped.
  virtual IngestReport ingest(const std::vector<std::string>& paths, const IngestOptions& options,
                              const ProgressFn& progress = {}) = 0;
  // Documents given as text (same chunking, idempotent by key and content hash).
  virtual IngestReport ingest_texts(const std::vector<TextDocument>& docs, const IngestOptions& options,
                                    const ProgressFn& progress = {}) = 0;
  // Remove one document (by path or key); false when it was not there.
  virtual bool remove(const std::string& collection, const std::string& path) = 0;

  // The collection's id, given on first use and never reused: what names its
  // files on disk (names are any text, so no sanitized form of them can).
  virtual int64_t collection_id(const std::string& name) = 0;
  // Every collection: those given an id (created empty) and those holding documents.
  virtual std::vector<CollectionInfo> collections() = 0;
  // The collection's documents by path, at most `limit`.
  virtual std::vector<DocumentInfo> documents(const std::string& collection, size_t limit) = 0;
  // Removes the collection's documents and its id; the number of documents removed.
  virtual size_t remove_collection(const std::string& name) = 0;

  // Grows with every document added, replaced or removed in any of
  // `collections` (empty = all): what answer caches are keyed on.
  virtual int64_t data_version(const std::vector<std::string>& collections) = 0;

  virtual SearchResponse search(const std::string& query, const SearchOptions& options) = 0;

  // One chunk with its provenance (for citations and neighbour context).
  virtual std::optional<SearchHit> chunk(int64_t chunk_id) = 0;
  // Ids of the collection's chunks, in document and chunk order.
  virtual std::vector<int64_t> chunk_ids(const std::string& collection) = 0;
  virtual IndexStats stats() = 0;
  virtual const std::string& dir() const = 0;
};

}  // namespace edgerag::rag
