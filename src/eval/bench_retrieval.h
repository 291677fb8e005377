// Retrieval at scale (`edgerag bench retrieval`): a deterministic synthetic
// corpus (Zipfian vocabulary, varied chunk lengths) grown through the sizes
// asked for, timing ingest and BM25 top-k queries through the pruned inverted
// index and through the exhaustive FTS5 scorer, and checking that both rank
// alike. Optionally the same on a BEIR corpus (SciFact). With a dimension,
// every chunk also gets a synthetic vector (clustered Gaussian, seeded by its
// text) in an HNSW graph: dense and hybrid queries are timed and the dense
// top-k compared with exact float search over the stored vectors (recall@k),
// at each ef_search asked for. With `reopen`, a run measures the index an
// earlier run left in its folder instead of building it again.
#pragma once
#include <cstdint>
#include <cstddef>
#include <string>
#include <vector>

namespace edgerag::eval {

struct RetrievalBenchOptions {
  std::vector<size_t> chunks = {10000, 100000};  // index sizes, ascending; the index grows through them
  size_t queries = 200;
  size_t exhaustive_queries = 200;  // of those, also timed exhaustively and compared (0 = none)
  size_t k = 10;
  size_t vocabulary = 200000;       // distinct words, drawn with P(rank r) ~ 1 / r
  size_t mean_words = 150;          // words per chunk (log-normal lengths)
  uint64_t seed = 1;
  std::string dir;                  // index folder (default: a temporary one, removed afterwards)
  // Measure the synthetic index an earlier run (same seed, vocabulary, words and
  // dense settings) left in `dir`, ingesting only the chunks it lacks.
  bool reopen = false;
  std::string beir;                 // BEIR data set folder to measure as well ("" = none)
  // Dense (dim > 0): the graph's settings, fixed when the index is created.
  int dim = 0;
  std::string vectors = "f32";      // HNSW points: "f32" or "int8"
  int hnsw_m = 16, ef_construction = 200;
  std::vector<size_t> ef_search = {512};  // dense timed and recall@k measured at each (a sweep)
  size_t rescore_depth = 64;        // int8: candidates re-scored in float (rag::SearchOptions)
  size_t clusters = 1000;           // centroids the synthetic vectors scatter around
  size_t recall_queries = SIZE_MAX; // of the queries, those scored exactly for recall@k (a scan of every vector)
  size_t insert = 0;                // chunks added after the last size (the graph updated in place), timed
  bool progress = false;            // a line on stderr per ingest call
};

struct LatencyStats {
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, mean_ms = 0;
};

struct DenseSweepPoint {
  size_t ef_search = 0;
  LatencyStats dense;               // the HNSW search stage, wall time
  LatencyStats dense_cpu;           // the search call's process CPU time (a busy machine's waits left out)
  double recall_at_k = 0;
};

struct RetrievalBenchRow {
  std::string corpus;               // "synthetic" or the BEIR folder's name
  size_t chunks = 0;
  bool reopened = false;            // no chunks ingested: the index was there at this size
  double ingest_s = 0, ingest_chunks_per_s = 0;  // for the chunks added to reach this size
  double ingest_cpu_s = 0;          // process CPU seconds of those ingest calls (every thread)
  // The first exhaustive query's time outside its BM25 stage: mostly FTS5
  // getting the chunks ingested since its last use (ingest leaves them to it).
  double reference_fts_s = 0;
  uint64_t index_bytes = 0;
  size_t queries = 0;
  LatencyStats bm25;                // pruned (the default path), BM25 stage only, wall time
  LatencyStats bm25_cpu;            // the same queries' process CPU time (whole search call):
                                    // what they cost on a core of their own when others compete
  LatencyStats exhaustive;          // FTS5 scoring every match
  size_t compared = 0, identical = 0;  // queries whose top-k ids and scores agree exactly
  // Dense (dim > 0): the HNSW search stage, the whole hybrid search call, and the
  // share of the exact float top-k the dense top-k finds (mean over queries),
  // at the first ef_search; `sweep` has the dense figures at every ef_search.
  LatencyStats dense, hybrid;
  double recall_at_k = 0;
  std::vector<DenseSweepPoint> sweep;
  uint64_t graph_bytes = 0;         // the HNSW graph file (what search holds in memory)
};

struct RetrievalBenchResult {
  std::vector<RetrievalBenchRow> rows;
  size_t inserted = 0;              // `insert`: chunks added to the largest index, and how long that took
  double insert_s = 0;              // (the ingest call, the graph update and its save included)
  double peak_rss_mb = 0;
  double load_before = 0, load_after = 0;  // 1-minute load average: how busy the machine was
};

RetrievalBenchResult bench_retrieval(const RetrievalBenchOptions& opts);

}  // namespace edgerag::eval
