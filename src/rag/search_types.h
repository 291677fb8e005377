// Search options and results: every hit carries its text, the score of each
// stage it went through, and where it came from (provenance).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgerag::rag {

enum class SearchMode { Bm25, Dense, Hybrid };
SearchMode parse_search_mode(const std::string& s);  // "bm25" | "dense" | "hybrid"
const char* search_mode_name(SearchMode m);

struct SearchFilter {
  std::string path_prefix;               // documents whose path starts with this
  std::vector<std::string> file_types;   // e.g. {"pdf", "md"}; empty = any
  std::vector<std::string> collections;  // empty = all collections
};

struct SearchOptions {
  SearchMode mode = SearchMode::Hybrid;
  size_t k = 10;
  size_t bm25_depth = 100;    // candidates from BM25 before fusion
  size_t dense_depth = 100;   // candidates from dense search before fusion
  double rrf_k = 60;          // reciprocal rank fusion constant
  size_t expand_neighbors = 0;  // add up to N chunks before/after each top hit
  bool rerank = true;          // when a reranker is set on the index
  size_t rerank_top = 64;      // fused candidates the cross-encoder rescores
  // Skip reranking when the BM25 and dense top-10 overlap at least this much
  // (fraction of shared chunks, hybrid mode only); above 1 never skips.
  double rerank_skip_agreement = 0.8;
  // HNSW search breadth: 512 keeps recall@10 at 1.000 of exact search on the
  // synthetic 384-d corpus up to 1M chunks (docs/PERFORMANCE.md), where 64 falls to 0.90.
  size_t ef_search = 512;
  // int8 graphs: how many of the graph's candidates (the best by int8 score, at
  // least the depth asked for) are re-scored with their float vectors, one table
  // lookup each; 0: all max(ef_search, depth) of them. 64 costs no recall there.
  size_t rescore_depth = 64;
  // Score every BM25 match through FTS5 instead of the pruned inverted index:
  // the reference ranking the pruned path equals (tests, benchmarks). Ingest
  // leaves FTS5's rows to this search: on a writable index it first adds the
  // chunks ingested since its last use; on a read-only one that lacks some, it fails.
  bool bm25_exhaustive = false;
  // The question's embedding from an earlier search (SearchResponse::query_vector):
  // reused instead of embedding the query again.
  std::vector<float> query_vector;
  // HyDE (rag/adaptive.h): the embedding of a hypothetical answer passage. Its
  // dense ranking enters fusion as a third list (hybrid) or replaces the
  // question's (dense). Mixed with the question's embedding by
  // `hyde_question_weight` (0: the passage alone) and renormalized.
  std::vector<float> hyde_vector;
  double hyde_question_weight = 0;
  SearchFilter filter;
  // Past it the search stops between stages (and between rerank batches)
  // with edgerag::DeadlineExceeded.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct Provenance {
  int64_t doc_id = 0;
  std::string collection;
  std::string path;        // file path (absolute) or the key of a text document
  std::string file_type;   // txt, md, html, pdf, docx, pptx, csv, jsonl, image, ...
  std::string title;
  std::string headings;    // "Intro > Setup" for md/html/docx; slide title for pptx
  int chunk_index = 0;     // position of the chunk in its document
  int page = 0;            // 1-based PDF page / pptx slide, 0 when not paged
  int64_t row_begin = -1, row_end = -1;  // 1-based data rows (csv/jsonl), inclusive
  int64_t byte_begin = 0, byte_end = 0;  // in the file for text formats, else in its extracted text
};

struct StageScores {
  std::optional<double> bm25, dense, fused, rerank;
  std::optional<double> hyde;  // dense score against the HyDE vector
  std::optional<size_t> bm25_rank, dense_rank, hyde_rank;  // 1-based rank in each retriever
};

struct SearchHit {
  int64_t chunk_id = 0;
  double score = 0;        // the final ranking score
  std::string text;
  StageScores scores;
  Provenance provenance;
  bool neighbor = false;   // added by neighbour expansion, not retrieved itself
};

struct StageTimings {
  double embed_ms = 0, bm25_ms = 0, dense_ms = 0, fuse_ms = 0, expand_ms = 0, rerank_ms = 0, total_ms = 0;
};

struct SearchResponse {
  std::vector<SearchHit> hits;
  StageTimings timings;
  bool reranked = false;
  std::string rerank_note;  // why reranking was skipped, if it was
  double agreement = -1;    // top-10 overlap of the BM25 and dense lists (hybrid only)
  std::vector<float> query_vector;  // the query's embedding (dense / hybrid)
};

}  // namespace edgerag::rag
