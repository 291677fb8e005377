#include "eval/bench_retrieval.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <queue>
#include <random>
#include <set>

#include "eval/bench.h"
#include "eval/retrieval_beir.h"
#include "eval/retrieval_metrics.h"
#include "rag/embedder.h"
#include "rag/index.h"
#include "rag/sqlite_db.h"
#include "rag/vector_index.h"
#include "tensor/ops.h"
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

// Draws from the generator's own bit patterns (not std:: distributions, whose
// algorithms differ between libraries), so every platform draws the same corpus.
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
double normal(std::mt19937_64& rng) {  // Box-Muller
  double u = std::max(uniform(rng), 1e-300), v = uniform(rng);
  return std::sqrt(-2 * std::log(u)) * std::cos(2 * std::numbers::pi * v);
}

// Words, chunk lengths and queries from one seeded generator.
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
    double len = static_cast<double>(mean_words_) * std::exp(0.5 * normal(rng_) - 0.125);
    return words(std::clamp<size_t>(static_cast<size_t>(len), 4, 8 * mean_words_));
  }
  std::string query() { return words(3 + static_cast<size_t>(uniform(rng_) * 8)); }
  void skip_chunks(size_t n) {
    for (; n > 0; --n) chunk();
  }

 private:
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
      auto r = static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), uniform(rng_)) - cdf_.begin());
      if (i) s += ' ';
      s += spell(std::min(r, cdf_.size() - 1));
    }
    return s;
  }

  std::mt19937_64 rng_;
  size_t mean_words_;
  std::vector<double> cdf_;
};

// Vectors for the synthetic corpus: a text's FNV-1a hash picks one of the
// centroids and seeds the Gaussian noise added to it (as large as the
// centroid), then the sum is normalized. Deterministic and cheap, and
// clustered as real embeddings are, so a graph's recall on it means something.
class ClusteredEmbedder : public rag::Embedder {
 public:
  ClusteredEmbedder(int dim, size_t clusters, uint64_t seed) : dim_(dim), clusters_(clusters) {
    EDGERAG_CHECK(dim > 0 && dim <= 4096 && clusters > 0, "dim 1..4096 and clusters > 0");
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
    centroids_.resize(clusters * static_cast<size_t>(dim));
    for (float& x : centroids_) x = static_cast<float>(normal(rng));
  }
  std::string name() const override { return fmt::format("synthetic-clustered-{}", dim_); }
  int dim() const override { return dim_; }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, bool) override {
    std::vector<std::vector<float>> out;
    for (const auto& t : texts) {
      uint64_t h = 0xcbf29ce484222325ull;
      for (unsigned char c : t) h = (h ^ c) * 0x100000001b3ull;
      std::mt19937_64 rng(h);
      const float* c = centroids_.data() + (h % clusters_) * static_cast<size_t>(dim_);
      std::vector<float> v(static_cast<size_t>(dim_));
      double norm = 0;
      for (size_t i = 0; i < v.size(); ++i) {
        v[i] = c[i] + static_cast<float>(normal(rng));
        norm += static_cast<double>(v[i]) * v[i];
      }
      for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
      out.push_back(std::move(v));
    }
    return out;
  }
  size_t count_tokens(std::string_view text) const override { return 1 + std::count(text.begin(), text.end(), ' '); }

 private:
  int dim_;
  size_t clusters_;
  std::vector<float> centroids_;
};

// The exact float top-k chunk ids of each query over every stored vector (one scan).
std::vector<std::set<int64_t>> exact_top_k(const std::string& db_path, const std::vector<std::vector<float>>& queries,
                                           size_t k) {
  using Entry = std::pair<float, int64_t>;  // a min-heap of the best k per query
  std::vector<std::priority_queue<Entry, std::vector<Entry>, std::greater<>>> best(queries.size());
  rag::Db db(db_path, false);
  auto st = db.prepare("SELECT chunk_id, v FROM vectors");
  while (st.step()) {
    size_t bytes = 0;
    const auto* v = static_cast<const float*>(st.blob(1, &bytes));
    for (size_t q = 0; q < queries.size(); ++q) {
      EDGERAG_CHECK(bytes == queries[q].size() * sizeof(float), "stored vector of {} bytes", bytes);
      const float s = dot_f32(queries[q].data(), v, static_cast<int64_t>(queries[q].size()));
      if (best[q].size() < k) best[q].emplace(s, st.i64(0));
      else if (s > best[q].top().first) best[q].pop(), best[q].emplace(s, st.i64(0));
    }
  }
  std::vector<std::set<int64_t>> out(queries.size());
  for (size_t q = 0; q < queries.size(); ++q)
    for (; !best[q].empty(); best[q].pop()) out[q].insert(best[q].top().second);
  return out;
}

// A reopened index must have been built with the dense settings this run reports.
void check_reopened(const std::string& db_path, const RetrievalBenchOptions& o) {
  if (!fs::exists(db_path)) fail("no index at {} to reopen", db_path);
  rag::Db db(db_path, false);
  const rag::VectorIndexParams p = rag::VectorIndex::recorded_params(db);
  if (p.dim != o.dim || (o.dim > 0 && (p.int8 != (o.vectors == "int8") || p.m != o.hnsw_m ||
                                        p.ef_construction != o.ef_construction)))
    fail("{} was built with dim {}, {} vectors, M {}, ef_construction {}: reopen it with those", db_path, p.dim,
         p.int8 ? "int8" : "f32", p.m, p.ef_construction);
}

uint64_t graph_bytes(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".hnsw") n += e.file_size(ec);
  return n;
}

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
    if (q == 0) row.reference_fts_s = (exact.timings.total_ms - exact.timings.bm25_ms) / 1e3;
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

// Dense top-k (the HNSW stage's wall time) against exact float search at
// each ef_search, and the whole hybrid search call at the first.
void time_dense(rag::Index& idx, rag::Embedder& emb, const std::string& dir, const std::vector<std::string>& queries,
                const RetrievalBenchOptions& o, RetrievalBenchRow& row) {
  const auto qvecs = emb.embed(queries, true);
  const size_t n_recall = std::min(queries.size(), o.recall_queries);
  const auto exact = exact_top_k(dir + "/index.sqlite", {qvecs.begin(), qvecs.begin() + static_cast<ptrdiff_t>(n_recall)}, o.k);
  rag::SearchOptions so;
  so.mode = rag::SearchMode::Dense;
  so.k = so.dense_depth = o.k;
  so.rescore_depth = o.rescore_depth;
  for (size_t ef : o.ef_search) {
    so.ef_search = ef;
    std::vector<double> dense_ms, cpu_ms;
    double found = 0;
    for (size_t q = 0; q < queries.size(); ++q) {
      const double cpu = process_cpu_seconds();
      auto r = idx.search(queries[q], so);
      cpu_ms.push_back(1e3 * (process_cpu_seconds() - cpu));
      dense_ms.push_back(r.timings.dense_ms);
      if (q >= n_recall) continue;
      size_t hit = 0;
      for (const auto& h : r.hits) hit += exact[q].count(h.chunk_id);
      found += exact[q].empty() ? 1.0 : static_cast<double>(hit) / static_cast<double>(exact[q].size());
    }
    row.sweep.push_back({ef, stats(dense_ms), stats(cpu_ms), n_recall == 0 ? 0 : found / static_cast<double>(n_recall)});
  }
  std::vector<double> hybrid_ms;
  rag::SearchOptions hybrid;
  hybrid.mode = rag::SearchMode::Hybrid;
  hybrid.k = o.k;
  hybrid.ef_search = o.ef_search.front();
  hybrid.rescore_depth = o.rescore_depth;
  for (const auto& q : queries) {
    Timer t;
    idx.search(q, hybrid);
    hybrid_ms.push_back(t.ms());
  }
  row.dense = row.sweep.front().dense;
  row.recall_at_k = row.sweep.front().recall_at_k;
  row.hybrid = stats(hybrid_ms);
  row.graph_bytes = graph_bytes(dir);
}

rag::IngestOptions one_chunk_per_text() {
  rag::IngestOptions io;
  io.chunk = {1u << 20, 0, 0};
  return io;
}

// Grows the index from `have` to `target` chunks in ingest calls of up to
// 50,000 texts (~50 MB), each generated before it is timed; the seconds spent
// ingesting (wall, and process CPU in `cpu_s`).
double ingest_synthetic(rag::Index& idx, Synthetic& gen, size_t& have, size_t target, bool progress,
                        double* cpu_s = nullptr) {
  double seconds = 0;
  while (have < target) {
    std::vector<rag::TextDocument> docs;
    for (size_t n = std::min<size_t>(target - have, 50000); n > 0; --n, ++have)
      docs.push_back({fmt::format("c{}", have), "", gen.chunk()});
    Timer t;
    const double cpu = process_cpu_seconds();
    idx.ingest_texts(docs, one_chunk_per_text());
    if (cpu_s) *cpu_s += process_cpu_seconds() - cpu;
    seconds += t.seconds();
    if (progress)
      fmt::print(stderr, "bench retrieval: {} of {} chunks, {:.0f} chunks/s, load {:.1f}\n", have, target,
                 static_cast<double>(docs.size()) / std::max(t.seconds(), 1e-9), load_average());
  }
  return seconds;
}

}  // namespace

RetrievalBenchResult bench_retrieval(const RetrievalBenchOptions& o) {
  EDGERAG_CHECK(!o.chunks.empty() && std::is_sorted(o.chunks.begin(), o.chunks.end()) && o.chunks.front() > 0,
                "chunk counts must be positive and ascending");
  EDGERAG_CHECK(o.k > 0, "k must be positive");
  EDGERAG_CHECK(o.dim == 0 || !o.ef_search.empty(), "at least one ef_search");
  EDGERAG_CHECK(!o.reopen || !o.dir.empty(), "reopen needs the folder of an earlier run");
  RetrievalBenchResult res;
  res.load_before = load_average();
  const bool temporary = o.dir.empty();
  std::string dir = temporary ? (fs::temp_directory_path() / fmt::format("edgerag-bench-{}", getpid())).string() : o.dir;
  for (const char* name : {"/synthetic", "/beir"})
    if (!(o.reopen && std::string(name) == "/synthetic") && fs::exists(dir + name + "/index.sqlite"))
      fail("{} already holds an index: give an empty folder", dir + name);
  if (o.reopen) check_reopened(dir + "/synthetic/index.sqlite", o);
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
    std::shared_ptr<rag::Embedder> emb;
    if (o.dim > 0) {
      emb = std::make_shared<ClusteredEmbedder>(o.dim, o.clusters, o.seed);
      io.exact_below = 0;  // the graph at every size
      io.vectors = o.vectors;
      io.hnsw_m = o.hnsw_m;
      io.hnsw_ef_construction = o.ef_construction;
    }
    auto idx = rag::Index::open(dir + "/synthetic", io);
    if (emb) idx->set_embedder(emb);
    size_t have = idx->stats().chunks;  // 0 unless reopened
    EDGERAG_CHECK(have <= o.chunks.front(), "{} holds {} chunks, more than the first size asked for", dir, have);
    if (have < o.chunks.back() || o.insert > 0) gen.skip_chunks(have);  // the new chunks continue the corpus
    for (size_t target : o.chunks) {
      RetrievalBenchRow row;
      row.corpus = "synthetic";
      row.reopened = have == target;
      row.ingest_s = ingest_synthetic(*idx, gen, have, target, o.progress, &row.ingest_cpu_s);
      row.chunks = idx->stats().chunks;
      if (!row.reopened)
        row.ingest_chunks_per_s = static_cast<double>(row.chunks - (res.rows.empty() ? 0 : res.rows.back().chunks)) /
                                  std::max(row.ingest_s, 1e-9);
      row.index_bytes = idx->stats().bytes_on_disk;
      if (o.progress) fmt::print(stderr, "bench retrieval: {} chunks ingested, timing queries\n", row.chunks);
      time_queries(*idx, queries, o, {}, row);
      if (emb) time_dense(*idx, *emb, dir + "/synthetic", queries, o, row);
      res.rows.push_back(row);
    }
    if (o.insert > 0) {  // into the largest index: its graph gets only the new points
      res.insert_s = ingest_synthetic(*idx, gen, have, have + o.insert, o.progress);
      res.inserted = o.insert;
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
    const double cpu = process_cpu_seconds();
    idx->ingest_texts(data.corpus, ingest);
    row.ingest_cpu_s = process_cpu_seconds() - cpu;
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
