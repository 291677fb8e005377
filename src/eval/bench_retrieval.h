// Retrieval at scale (`edgerag bench retrieval`): a deterministic synthetic
// corpus (Zipfian vocabulary, varied chunk lengths) grown through the sizes
// asked for, timing ingest and BM25 top-k queries through the pruned inverted
// index and through the exhaustive FTS5 scorer, and checking that both rank
// alike. Optionally the same on a BEIR corpus (SciFact).
#pragma once
#include <cstdint>
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
  std::string beir;                 // BEIR data set folder to measure as well ("" = none)
};

struct LatencyStats {
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, mean_ms = 0;
};

struct RetrievalBenchRow {
  std::string corpus;               // "synthetic" or the BEIR folder's name
  size_t chunks = 0;
  double ingest_s = 0, ingest_chunks_per_s = 0;  // for the chunks added to reach this size
  uint64_t index_bytes = 0;
  size_t queries = 0;
  LatencyStats bm25;                // pruned (the default path), BM25 stage only, wall time
  LatencyStats bm25_cpu;            // the same queries' process CPU time (whole search call):
                                    // what they cost on a core of their own when others compete
  LatencyStats exhaustive;          // FTS5 scoring every match
  size_t compared = 0, identical = 0;  // queries whose top-k ids and scores agree exactly
};

struct RetrievalBenchResult {
  std::vector<RetrievalBenchRow> rows;
  double peak_rss_mb = 0;
  double load_before = 0, load_after = 0;  // 1-minute load average: how busy the machine was
};

RetrievalBenchResult bench_retrieval(const RetrievalBenchOptions& opts);

}  // namespace edgerag::eval
