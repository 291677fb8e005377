#include "rag/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <unordered_set>

#include "tensor/ops.h"
#include "util/error.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace edgerag::rag {

struct VectorIndex::Hnsw {
  explicit Hnsw(int dim) : space(static_cast<size_t>(dim)) {}
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
};

void bump_vector_generation(Db& db) {
  db.exec("INSERT INTO meta(key, value) VALUES('vec_gen', '1') "
          "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1");
}

VectorIndex::VectorIndex(Db& db, std::string dir, VectorIndexParams params)
    : db_(db), dir_(std::move(dir)), p_(params) {
  EDGERAG_CHECK(p_.dim > 0, "vector index: dimension must be positive");
}
VectorIndex::~VectorIndex() = default;

std::string VectorIndex::graph_path(const std::string& dir, int64_t generation) {
  return dir + "/vectors-" + std::to_string(generation) + ".hnsw";
}

int64_t VectorIndex::meta_int(const char* key, int64_t fallback) {
  auto st = db_.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1");
  st.bind(1, std::string(key));
  return st.step() ? st.i64(0) : fallback;
}

void VectorIndex::create_schema(Db& db) {
  // A vector written in a transaction enters the generation after the current one
  // (bump_vector_generation runs later in that transaction, once or more).
  db.exec(R"(
CREATE TABLE IF NOT EXISTS vector_log(gen INTEGER NOT NULL, chunk_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS vector_log_by_gen ON vector_log(gen);
CREATE TRIGGER IF NOT EXISTS vectors_log_ai AFTER INSERT ON vectors BEGIN
  INSERT INTO vector_log(gen, chunk_id)
    VALUES (COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vec_gen'), 0) + 1, new.chunk_id);
END;
CREATE TRIGGER IF NOT EXISTS vectors_log_ad AFTER DELETE ON vectors BEGIN
  INSERT INTO vector_log(gen, chunk_id)
    VALUES (COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vec_gen'), 0) + 1, old.chunk_id);
END;
-- Graphs older than this generation predate the log (an index made by an older version).
INSERT OR IGNORE INTO meta(key, value)
  VALUES ('vec_log_from', COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vec_gen'), 0));
)");
}

static const float* blob_vector(const Stmt& st, int col, int dim) {
  size_t bytes = 0;
  const void* p = st.blob(col, &bytes);
  if (bytes != static_cast<size_t>(dim) * sizeof(float)) fail("vector of {} bytes, expected {} floats", bytes, dim);
  return static_cast<const float*>(p);
}

void VectorIndex::load_exact(int64_t gen) {
  ids_.clear();
  matrix_.clear();
  auto st = db_.prepare("SELECT chunk_id, v FROM vectors ORDER BY chunk_id");
  while (st.step()) {
    const float* v = blob_vector(st, 1, p_.dim);
    ids_.push_back(st.i64(0));
    matrix_.insert(matrix_.end(), v, v + p_.dim);
  }
  hnsw_.reset();
  exact_ = true;
  loaded_gen_ = gen;
}

// Adds (or replaces) one vector, growing the graph's capacity by doubling.
static void add_point(hnswlib::HierarchicalNSW<float>& g, int64_t id, const float* v) {
  if (g.cur_element_count >= g.max_elements_) g.resizeIndex(std::max<size_t>(1024, g.max_elements_ * 2));
  g.addPoint(v, static_cast<hnswlib::labeltype>(id));  // unmarks and updates a deleted or present label
}

static bool is_live(hnswlib::HierarchicalNSW<float>& g, int64_t id) {
  auto it = g.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  return it != g.label_lookup_.end() && !g.isMarkedDeleted(it->second);
}

// The newest readable graph file of at most generation `gen` (its generation), or -1.
int64_t VectorIndex::load_newest_graph(int64_t gen) {
  hnsw_ = std::make_unique<Hnsw>(p_.dim);
  exact_ = false;
  std::string best;
  int64_t best_gen = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("vectors-", 0) != 0 || e.path().extension() != ".hnsw") continue;
    int64_t g = std::atoll(name.c_str() + 8);
    if (g > best_gen && g <= gen) best_gen = g, best = e.path().string();
  }
  if (best.empty()) return -1;
  try {
    hnsw_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&hnsw_->space, best);
    return best_gen;
  } catch (const std::exception& ex) {
    log(LogLevel::Warn, "ignoring unreadable vector graph {}: {}", best, ex.what());
    hnsw_->graph.reset();
    return -1;
  }
}

void VectorIndex::apply_log(int64_t since) {
  auto& g = *hnsw_->graph;
  auto st = db_.prepare(
      "SELECT l.chunk_id, v.v FROM (SELECT DISTINCT chunk_id FROM vector_log WHERE gen > ?1) l "
      "LEFT JOIN vectors v ON v.chunk_id = l.chunk_id");
  st.bind(1, since);
  while (st.step()) {
    int64_t id = st.i64(0);
    size_t bytes = 0;
    if (!st.blob(1, &bytes)) {  // deleted since
      if (is_live(g, id)) g.markDelete(static_cast<hnswlib::labeltype>(id));
      continue;
    }
    const float* v = blob_vector(st, 1, p_.dim);
    if (is_live(g, id) &&
        std::memcmp(g.getDataByLabel<float>(static_cast<hnswlib::labeltype>(id)).data(), v, bytes) == 0)
      continue;  // already there (a log entry of the graph's own generation)
    add_point(g, id, v);
  }
}

void VectorIndex::apply_full_diff(size_t count) {
  auto& g = *hnsw_->graph;
  std::unordered_set<int64_t> in_db;
  in_db.reserve(count);
  {
    auto st = db_.prepare("SELECT chunk_id FROM vectors");
    while (st.step()) in_db.insert(st.i64(0));
  }
  for (const auto& [label, internal] : g.label_lookup_)
    if (!in_db.count(static_cast<int64_t>(label)) && !g.isMarkedDeleted(internal)) g.markDelete(label);
  auto st = db_.prepare("SELECT chunk_id, v FROM vectors");
  while (st.step()) {
    int64_t id = st.i64(0);
    if (!is_live(g, id)) add_point(g, id, blob_vector(st, 1, p_.dim));
  }
}

void VectorIndex::prune_log(int64_t gen) {
  Transaction tx(db_);
  db_.prepare("DELETE FROM vector_log WHERE gen <= ?1").bind(1, gen).run();
  db_.prepare("INSERT INTO meta(key, value) VALUES('vec_log_pruned', ?1) "
              "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
      .bind(1, std::to_string(gen))
      .run();
  tx.commit();
}

void VectorIndex::sync(bool save) {
  std::string path;
  int64_t gen = 0;
  {
    ReadSnapshot snap(db_);  // the generation, the log and the vectors of one commit
    gen = meta_int("vec_gen", 0);
    if (gen == loaded_gen_ && !save) return;
    size_t count = 0;
    {
      auto st = db_.prepare("SELECT count(*) FROM vectors");
      if (st.step()) count = static_cast<size_t>(st.i64(0));
    }
    if (count < p_.exact_below) {
      if (gen != loaded_gen_) load_exact(gen);
      return;
    }
    path = graph_path(dir_, gen);
    if (gen == loaded_gen_ && !exact_ && fs::exists(path)) return;
    // The log holds the changes after generation `pruned` made since `log_from`;
    // a graph older than either is brought up to date by comparing with the table.
    const int64_t log_from = meta_int("vec_log_from", std::numeric_limits<int64_t>::max());
    const int64_t pruned = meta_int("vec_log_pruned", 0);
    int64_t base = exact_ || !hnsw_ ? -1 : loaded_gen_;
    if (base < pruned) base = load_newest_graph(gen);  // start from the newest graph on disk
    if (!hnsw_->graph)
      hnsw_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          &hnsw_->space, count + 1024, static_cast<size_t>(p_.m), static_cast<size_t>(p_.ef_construction));
    if (base >= 0 && base >= log_from && base >= pruned) {
      if (base < gen) apply_log(base);
    } else {
      apply_full_diff(count);
    }
    loaded_gen_ = gen;
    ids_.clear();
    matrix_.clear();
  }
  if (!save) return;
  std::string tmp = path + ".tmp";
  hnsw_->graph->saveIndex(tmp);
  fs::rename(tmp, path);  // atomic: readers see the old graph or the new one
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("vectors-", 0) == 0 && e.path() != fs::path(path)) fs::remove(e.path(), ec);
  }
  prune_log(gen);
}

std::vector<std::pair<int64_t, float>> VectorIndex::search(const float* query, size_t k, size_t ef_search,
                                                           const std::vector<int64_t>* only) {
  std::vector<std::pair<int64_t, float>> out;
  if (k == 0) return out;
  auto by_score = [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; };
  sync(false);
  if (only) {  // filtered: exact over the allowed chunks, from the in-memory copy
    out.reserve(only->size());
    if (exact_) {
      for (int64_t id : *only) {
        auto it = std::lower_bound(ids_.begin(), ids_.end(), id);  // ids_ ascend
        if (it == ids_.end() || *it != id) continue;
        auto row = static_cast<size_t>(it - ids_.begin());
        out.emplace_back(id, dot_f32(query, matrix_.data() + row * static_cast<size_t>(p_.dim), p_.dim));
      }
    } else {
      auto& g = *hnsw_->graph;
      for (int64_t id : *only) {
        auto it = g.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
        if (it == g.label_lookup_.end() || g.isMarkedDeleted(it->second)) continue;
        out.emplace_back(id, dot_f32(query, reinterpret_cast<const float*>(g.getDataByInternalId(it->second)), p_.dim));
      }
    }
  } else {
    if (exact_) {
      out.reserve(ids_.size());
      for (size_t i = 0; i < ids_.size(); ++i)
        out.emplace_back(ids_[i], dot_f32(query, matrix_.data() + i * static_cast<size_t>(p_.dim), p_.dim));
    } else {
      auto& g = *hnsw_->graph;
      g.setEf(std::max(ef_search, k));
      auto pq = g.searchKnn(query, k);
      while (!pq.empty()) {  // hnswlib's inner-product distance is 1 - dot
        out.emplace_back(static_cast<int64_t>(pq.top().second), 1.0f - pq.top().first);
        pq.pop();
      }
    }
  }
  size_t n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<ptrdiff_t>(n), out.end(), by_score);
  out.resize(n);
  return out;
}

}  // namespace edgerag::rag
