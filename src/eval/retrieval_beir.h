// Retrieval evaluation on a BEIR-format data set (corpus.jsonl, queries.jsonl,
// qrels/<split>.tsv): ingest the corpus into an index, run every judged query,
// score the run with the BEIR metrics and time each query. Like BEIR's tooling,
// the means are over the queries that ran: a judged query without text (absent
// from queries.jsonl, or empty) is skipped and counted, never averaged in as 0.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eval/retrieval_metrics.h"
#include "rag/index.h"

namespace edgerag::eval {

struct BeirDataset {
  std::vector<rag::TextDocument> corpus;                   // key = BEIR _id
  std::vector<std::pair<std::string, std::string>> queries;  // judged queries with text: id, text
  Qrels qrels;
  size_t judged_without_text = 0;  // judged queries missing from queries.jsonl or with empty text
};

// Throws edgerag::Error naming the file and line of any malformed record.
BeirDataset load_beir(const std::string& dir, const std::string& split = "test");
// The (_id, text) of the queries with text in a BEIR queries.jsonl, in file
// order, the first `limit` of them (0: all); throws like load_beir, or when none has text.
std::vector<std::pair<std::string, std::string>> read_beir_queries(const std::string& path, size_t limit = 0);

struct BeirRunOptions {
  rag::SearchOptions search;
  size_t depth = 100;             // documents per query in the run
  bool ignore_identical_ids = true;  // drop a hit whose id equals the query id (BEIR default)
};

struct BeirResult {
  RetrievalMetrics metrics;      // over the queries that ran (metrics.queries of them)
  size_t skipped_queries = 0;    // = BeirDataset::judged_without_text
  double latency_p50_ms = 0, latency_p95_ms = 0, latency_mean_ms = 0;
};

// Runs the queries against `index` (whose collection "beir" holds the corpus).
BeirResult run_beir(rag::Index& index, const BeirDataset& data, const BeirRunOptions& opt);

inline constexpr const char* kBeirCollection = "beir";

}  // namespace edgerag::eval
