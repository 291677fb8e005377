#include "rag/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
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

int64_t VectorIndex::db_generation() {
  auto st = db_.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vec_gen'");
  return st.step() ? st.i64(0) : 0;
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

void VectorIndex::sync(bool save) {
  int64_t gen = db_generation();
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
  std::string path = graph_path(dir_, gen);
  if (gen == loaded_gen_ && !exact_ && fs::exists(path)) return;
  // Start from the newest graph on disk (any generation) and apply the difference.
  if (!hnsw_ || exact_) {
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
    if (!best.empty()) {
      try {
        hnsw_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&hnsw_->space, best);
      } catch (const std::exception& ex) {
        log(LogLevel::Warn, "ignoring unreadable vector graph {}: {}", best, ex.what());
        hnsw_->graph.reset();
      }
    }
    if (hnsw_->graph && best_gen == gen) {  // the saved graph is current: nothing to apply
      loaded_gen_ = gen;
      ids_.clear();
      matrix_.clear();
      return;
    }
    if (!hnsw_->graph)
      hnsw_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          &hnsw_->space, count + 1024, static_cast<size_t>(p_.m), static_cast<size_t>(p_.ef_construction));
  }
  auto& g = *hnsw_->graph;
  std::unordered_set<int64_t> in_db;
  in_db.reserve(count);
  {
    auto st = db_.prepare("SELECT chunk_id FROM vectors");
    while (st.step()) in_db.insert(st.i64(0));
  }
  for (const auto& [label, internal] : g.label_lookup_)
    if (!in_db.count(static_cast<int64_t>(label)) && !g.isMarkedDeleted(internal)) g.markDelete(label);
  size_t live = g.cur_element_count;
  if (live + count > g.max_elements_) g.resizeIndex(std::max(live + count, g.max_elements_ * 2));
  auto st = db_.prepare("SELECT chunk_id, v FROM vectors");
  while (st.step()) {
    auto id = static_cast<hnswlib::labeltype>(st.i64(0));
    auto it = g.label_lookup_.find(id);
    if (it != g.label_lookup_.end() && !g.isMarkedDeleted(it->second)) continue;
    g.addPoint(blob_vector(st, 1, p_.dim), id);
  }
  loaded_gen_ = gen;
  ids_.clear();
  matrix_.clear();
  if (!save) return;
  std::string tmp = path + ".tmp";
  g.saveIndex(tmp);
  fs::rename(tmp, path);  // atomic: readers see the old graph or the new one
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("vectors-", 0) == 0 && e.path() != fs::path(path)) fs::remove(e.path(), ec);
  }
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
