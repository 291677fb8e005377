#include "eval/bench_retrieval.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>

#include "eval/bench.h"
#include "eval/retrieval_beir.h"
#include "eval/retrieval_metrics.h"
#include "rag/index.h"
#include "util/error.h"
#include "util/timer.h"

namespace fs = std::filesystem;

namespace edgerag::eval {
namespace {

double load_average() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

// Words, chunk lengths and queries from one seeded generator; only the
// engine's own bit patterns are used, so every platform draws the same corpus.
class Synthetic {
 public:
  Synthetic(const RetrievalBenchOptions& o) : rng_(o.seed), mean_words_(o.mean_words) {
    EDGERAG_CHECK(o.vocabulary >= 2 && o.mean_words >= 1, "vocabulary >= 2 and mean_words >= 1");
    cdf_.resize(o.vocabulary);
    double sum = 0;
    for (size_t r = 0; r < o.vocabulary; ++r) cdf_[r] = sum += 1.0 / static_cast<double>(r + 1);
    for (double& c : cdf_) c /= sum;
  }

  std::string chunk() {
    // Log-normal lengths (sigma 0.5) around the mean, as passages vary.
    double len = static_cast<double>(mean_words_) * std::exp(0.5 * normal() - 0.125);
    return words(std::clamp<size_t>(static_cast<size_t>(len), 4, 8 * mean_words_));
  }
  std::string query() { return words(3 + static_cast<size_t>(uniform() * 8)); }

 private:
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  double normal() {  // Box-Muller
    double u = std::max(uniform(), 1e-300), v = uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(2 * std::numbers::pi * v);
  }
  // The word of a vocabulary rank: two-letter syllables spelling the rank in base 40.
  static std::string spell(size_t rank) {
    static const char* kSyllables[] = {"ka", "to", "mi", "ne", "su", "ra", "lo", "pe", "di", "vu",
                                       "ba", "go", "hi", "je", "ku", "fa", "zo", "ti", "we", "yu",
                                       "ca", "do", "fi", "ge", "hu", "la", "mo", "ni", "pu", "re",
                                       "sa", "te", "vi", "xo", "ze", "bu", "co", "du", "fe", "gi"};
    std::string w;
    do {
      w += kSyllables[rank % 40];
      rank /= 40;
    } while (rank > 0);
    return w + "x";  // no word is an English stop word
  }
  std::string words(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      auto r = static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), uniform()) - cdf_.begin());
      if (i) s += ' ';
      s += spell(std::min(r, cdf_.size() - 1));
    }
    return s;
  }

  std::mt19937_64 rng_;
  size_t mean_words_;
  std::vector<double> cdf_;
};

LatencyStats stats(const std::vector<double>& ms) {
  LatencyStats s;
  if (ms.empty()) return s;
  s.p50_ms = percentile(ms, 50);
  s.p95_ms = percentile(ms, 95);
  s.p99_ms = percentile(ms, 99);
  for (double m : ms) s.mean_ms += m;
  s.mean_ms /= static_cast<double>(ms.size());
  return s;
}

// Times every query through the pruned path, and the first `exhaustive` of
// them through FTS5 as well, comparing the two rankings hit by hit.
void time_queries(rag::Index& idx, const std::vector<std::string>& queries, const RetrievalBenchOptions& o,
                  const rag::SearchFilter& filter, RetrievalBenchRow& row) {
  rag::SearchOptions so;
  so.mode = rag::SearchMode::Bm25;
  so.k = so.bm25_depth = o.k;
  so.filter = filter;
  std::vector<double> pruned_ms, pruned_cpu_ms, exhaustive_ms;
  for (size_t q = 0; q < queries.size(); ++q) {
    so.bm25_exhaustive = false;
    double cpu = process_cpu_seconds();
    auto pruned = idx.search(queries[q], so);
    pruned_cpu_ms.push_back(1e3 * (process_cpu_seconds() - cpu));
    pruned_ms.push_back(pruned.timings.bm25_ms);
    if (q >= o.exhaustive_queries) continue;
    so.bm25_exhaustive = true;
    auto exact = idx.search(queries[q], so);
    exhaustive_ms.push_back(exact.timings.bm25_ms);
    bool same = pruned.hits.size() == exact.hits.size();
    for (size_t i = 0; same && i < exact.hits.size(); ++i)
      same = pruned.hits[i].chunk_id == exact.hits[i].chunk_id && pruned.hits[i].score == exact.hits[i].score;
    ++row.compared;
    row.identical += same;
  }
  row.queries = queries.size();
  row.bm25 = stats(pruned_ms);
  row.bm25_cpu = stats(pruned_cpu_ms);
  row.exhaustive = stats(exhaustive_ms);
}

rag::IngestOptions one_chunk_per_text() {
  rag::IngestOptions io;
  io.chunk = {1u << 20, 0, 0};
  return io;
}

}  // namespace

RetrievalBenchResult bench_retrieval(const RetrievalBenchOptions& o) {
  EDGERAG_CHECK(!o.chunks.empty() && std::is_sorted(o.chunks.begin(), o.chunks.end()) && o.chunks.front() > 0,
                "chunk counts must be positive and ascending");
  EDGERAG_CHECK(o.k > 0, "k must be positive");
  RetrievalBenchResult res;
  res.load_before = load_average();
  const bool temporary = o.dir.empty();
  std::string dir = temporary ? (fs::temp_directory_path() / fmt::format("edgerag-bench-{}", getpid())).string() : o.dir;
  if (fs::exists(dir + "/index.sqlite")) fail("{} already holds an index: give an empty folder", dir);
  struct Cleanup {
    std::string dir;
    bool on;
    ~Cleanup() {
      std::error_code ec;
      if (on) fs::remove_all(dir, ec);
    }
  } cleanup{dir, temporary};

  Synthetic gen(o);
  std::vector<std::string> queries;
  for (size_t i = 0; i < o.queries; ++i) queries.push_back(gen.query());
  {
    rag::IndexOptions io;
    io.writable = true;
    auto idx = rag::Index::open(dir + "/synthetic", io);
    size_t have = 0;
    for (size_t target : o.chunks) {
      RetrievalBenchRow row;
      row.corpus = "synthetic";
      Timer t;
      while (have < target) {
        std::vector<rag::TextDocument> docs;
        for (size_t n = std::min<size_t>(target - have, 10000); n > 0; --n, ++have)
          docs.push_back({fmt::format("c{}", have), "", gen.chunk()});
        idx->ingest_texts(docs, one_chunk_per_text());
      }
      row.ingest_s = t.seconds();
      row.chunks = idx->stats().chunks;
      row.ingest_chunks_per_s = static_cast<double>(row.chunks - (res.rows.empty() ? 0 : res.rows.back().chunks)) /
                                std::max(row.ingest_s, 1e-9);
      row.index_bytes = idx->stats().bytes_on_disk;
      time_queries(*idx, queries, o, {}, row);
      res.rows.push_back(row);
    }
  }
  if (!o.beir.empty()) {
    BeirDataset data = load_beir(o.beir);
    rag::IndexOptions io;
    io.writable = true;
    auto idx = rag::Index::open(dir + "/beir", io);
    RetrievalBenchRow row;
    row.corpus = fs::path(o.beir).filename().string();
    rag::IngestOptions ingest;
    ingest.collection = kBeirCollection;
    Timer t;
    idx->ingest_texts(data.corpus, ingest);
    row.ingest_s = t.seconds();
    row.chunks = idx->stats().chunks;
    row.ingest_chunks_per_s = static_cast<double>(row.chunks) / std::max(row.ingest_s, 1e-9);
    row.index_bytes = idx->stats().bytes_on_disk;
    std::vector<std::string> texts;
    for (const auto& q : data.queries) texts.push_back(q.second);
    RetrievalBenchOptions all = o;
    all.exhaustive_queries = texts.size();
    time_queries(*idx, texts, all, {}, row);
    res.rows.push_back(row);
  }
  res.peak_rss_mb = peak_rss_mb();
  res.load_after = load_average();
  return res;
}

}  // namespace edgerag::eval
