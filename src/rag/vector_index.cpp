#include "rag/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <unordered_set>

#include "rag/int8_codes.h"
#include "tensor/ops.h"
#include "util/deadline.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread_pool.h"

namespace fs = std::filesystem;

namespace edgerag::rag {

class Int8Space : public hnswlib::SpaceInterface<float> {
 public:
  explicit Int8Space(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return int8_code_bytes(dim_); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &int8_distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
};

namespace {
// A space's distance that gives up at the request deadline while a search is
// armed: past it every distance is +inf, so searchKnn stops widening and
// returns within one step, and search() throws. (An exception thrown from
// inside hnswlib would leak its visited list.) Graph updates are never armed:
// they must see true distances.
class DeadlineSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit DeadlineSpace(std::unique_ptr<hnswlib::SpaceInterface<float>> inner)
      : inner_(std::move(inner)), dist_(inner_->get_dist_func()), param_(inner_->get_dist_func_param()) {}
  size_t get_data_size() override { return inner_->get_data_size(); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &distance; }
  void* get_dist_func_param() override { return this; }

  struct Armed {  // this thread's searches, for the guard's lifetime
    Armed() { armed_ = true, expired_ = false, calls_ = 0; }
    ~Armed() { armed_ = false; }
  };

 private:
  static float distance(const void* a, const void* b, const void* self) {
    if (armed_ && (expired_ || (calls_++ % 1024 == 0 && (expired_ = deadline_passed()))))
      return std::numeric_limits<float>::infinity();
    const auto* s = static_cast<const DeadlineSpace*>(self);
    return s->dist_(a, b, s->param_);
  }
  std::unique_ptr<hnswlib::SpaceInterface<float>> inner_;
  hnswlib::DISTFUNC<float> dist_;
  void* param_;
  static thread_local bool armed_, expired_;
  static thread_local unsigned calls_;
};
thread_local bool DeadlineSpace::armed_ = false, DeadlineSpace::expired_ = false;
thread_local unsigned DeadlineSpace::calls_ = 0;
}  // namespace

// The graph and the format of its points: float32 (hnswlib's inner product)
// or int8 codes (rag/int8_codes.h), which search re-scores with float vectors.
struct VectorIndex::Hnsw {
  Hnsw(int dim, bool int8) : dim(static_cast<size_t>(dim)), int8(int8) {
    if (int8) space = std::make_unique<DeadlineSpace>(std::make_unique<Int8Space>(this->dim));
    else space = std::make_unique<DeadlineSpace>(std::make_unique<hnswlib::InnerProductSpace>(this->dim));
    if (int8) code.resize(int8_code_bytes(this->dim));
  }
  // The point format of v (valid until the next call).
  const void* encode(const float* v) {
    if (!int8) return v;
    int8_encode(v, dim, code.data());
    return code.data();
  }
  size_t dim;
  bool int8;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  std::vector<unsigned char> code;
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

VectorIndexParams VectorIndex::recorded_params(Db& db) {
  auto meta = [&](const char* key, const char* fallback) {
    auto st = db.prepare("SELECT value FROM meta WHERE key = ?1");
    st.bind(1, std::string(key));
    return st.step() ? st.text(0) : std::string(fallback);
  };
  VectorIndexParams p;
  p.dim = std::atoi(meta("dim", "0").c_str());
  p.m = std::atoi(meta("hnsw_m", "16").c_str());
  p.ef_construction = std::atoi(meta("hnsw_ef_construction", "200").c_str());
  p.exact_below = std::stoull(meta("exact_below", "20000"));
  p.int8 = meta("vectors", "f32") == "int8";  // indexes made before int8 graphs have float ones
  return p;
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

// Adds (or replaces) one point (in the graph's format), growing the capacity by doubling.
// The first point of a graph takes level 16, which a random level reaches with
// probability 16^-16: no later point raises the top level. hnswlib keeps its
// `global` mutex while it links a point that raises the top level, taking
// link-list locks in the opposite order to every other insert (a lock-order
// inversion ThreadSanitizer reports); with the top level fixed it never does.
static void add_point(hnswlib::HierarchicalNSW<float>& g, int64_t id, const void* point) {
  if (g.cur_element_count >= g.max_elements_) g.resizeIndex(std::max<size_t>(1024, g.max_elements_ * 2));
  const auto label = static_cast<hnswlib::labeltype>(id);
  if (g.cur_element_count == 0) g.addPoint(point, label, 16);
  else g.addPoint(point, label);  // unmarks and updates a deleted or present label
}

// Points waiting to be linked into a graph, added together on all threads:
// hnswlib links points of distinct labels concurrently (the capacity is grown
// before, and a graph's first point goes in alone, at its fixed top level).
class PointBatch {
 public:
  explicit PointBatch(hnswlib::HierarchicalNSW<float>& g) : g_(g) {}
  static constexpr size_t kParallelPoints = 1024;
  void add(int64_t id, const void* point) {
    ids_.push_back(id);
    const auto* p = static_cast<const char*>(point);
    data_.insert(data_.end(), p, p + g_.data_size_);
    if (ids_.size() >= 8192) flush();
  }
  void flush() {
    if (ids_.empty()) return;
    size_t first = 0;
    if (g_.cur_element_count == 0) {
      add_point(g_, ids_[0], data_.data());
      first = 1;
    }
    const size_t need = g_.cur_element_count + ids_.size();
    if (need > g_.max_elements_) g_.resizeIndex(std::max(need, g_.max_elements_ * 2));
    auto link = [&](int, size_t a, size_t b) {
      for (size_t i = first + a; i < first + b; ++i)
        g_.addPoint(data_.data() + i * g_.data_size_, static_cast<hnswlib::labeltype>(ids_[i]));
    };
    if (ids_.size() - first < kParallelPoints) {  // an ingest's few points: not worth the threads
      link(0, 0, ids_.size() - first);
    } else {
      if (!pool_) pool_ = std::make_unique<ThreadPool>(default_thread_count());
      pool_->parallel_for(ids_.size() - first, link);
    }
    ids_.clear();
    data_.clear();
  }

 private:
  hnswlib::HierarchicalNSW<float>& g_;
  std::vector<int64_t> ids_;
  std::vector<char> data_;
  std::unique_ptr<ThreadPool> pool_;
};

static bool is_live(hnswlib::HierarchicalNSW<float>& g, int64_t id) {
  auto it = g.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  return it != g.label_lookup_.end() && !g.isMarkedDeleted(it->second);
}

// The newest readable graph file of at most generation `gen` (its generation), or -1.
int64_t VectorIndex::load_newest_graph(int64_t gen) {
  hnsw_ = std::make_unique<Hnsw>(p_.dim, p_.int8);
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
    hnsw_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(hnsw_->space.get(), best);
    // A graph whose points are of another size (format or dimension) is rebuilt, not misread.
    const auto& g = *hnsw_->graph;
    if (g.label_offset_ - g.offsetData_ != hnsw_->space->get_data_size()) fail("points of another format");
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
  PointBatch batch(g);
  while (st.step()) {
    int64_t id = st.i64(0);
    size_t bytes = 0;
    if (!st.blob(1, &bytes)) {  // deleted since
      if (is_live(g, id)) g.markDelete(static_cast<hnswlib::labeltype>(id));
      continue;
    }
    const void* point = hnsw_->encode(blob_vector(st, 1, p_.dim));
    if (is_live(g, id) &&
        std::memcmp(g.getDataByInternalId(g.label_lookup_.at(static_cast<hnswlib::labeltype>(id))), point,
                    g.data_size_) == 0)
      continue;  // already there (a log entry of the graph's own generation)
    batch.add(id, point);
  }
  batch.flush();
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
  PointBatch batch(g);
  while (st.step()) {
    int64_t id = st.i64(0);
    if (!is_live(g, id)) batch.add(id, hnsw_->encode(blob_vector(st, 1, p_.dim)));
  }
  batch.flush();
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
          hnsw_->space.get(), count + 1024, static_cast<size_t>(p_.m), static_cast<size_t>(p_.ef_construction));
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

// The graph's candidates with scores in its point format: the `n` nearest
// (ef_search wide), or with `only` every allowed chunk it holds.
std::vector<std::pair<int64_t, float>> VectorIndex::graph_search(const float* query, size_t n, size_t ef_search,
                                                                 const std::vector<int64_t>* only) {
  auto& g = *hnsw_->graph;
  const auto* encoded = static_cast<const unsigned char*>(hnsw_->encode(query));
  const std::vector<unsigned char> q(encoded, encoded + g.data_size_);
  auto score = [&](const void* point) {
    return hnsw_->int8 ? int8_dot(q.data(), point, hnsw_->dim)
                       : dot_f32(query, static_cast<const float*>(point), p_.dim);
  };
  std::vector<std::pair<int64_t, float>> out;
  if (only) {
    out.reserve(only->size());
    for (int64_t id : *only) {
      auto it = g.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
      if (it == g.label_lookup_.end() || g.isMarkedDeleted(it->second)) continue;
      if (out.size() % 4096 == 0) check_deadline("dense search");
      out.emplace_back(id, score(g.getDataByInternalId(it->second)));
    }
    return out;
  }
  g.setEf(std::max(ef_search, n));
  std::priority_queue<std::pair<float, hnswlib::labeltype>> pq;
  {
    DeadlineSpace::Armed armed;
    pq = g.searchKnn(q.data(), n);
  }
  check_deadline("dense search");
  while (!pq.empty()) {  // hnswlib's inner-product distances are 1 - dot
    out.emplace_back(static_cast<int64_t>(pq.top().second), 1.0f - pq.top().first);
    pq.pop();
  }
  return out;
}

// Replaces approximate scores by the float inner products of the stored
// vectors; a candidate whose vector is gone (a newer commit) is dropped.
void VectorIndex::rescore(const float* query, std::vector<std::pair<int64_t, float>>& cands) {
  ReadSnapshot snap(db_);  // one read transaction for all the lookups, not one each
  auto st = db_.prepare("SELECT v FROM vectors WHERE chunk_id = ?1");
  size_t kept = 0;
  for (auto& c : cands) {
    if (kept % 256 == 0) check_deadline("dense search");
    st.bind(1, c.first);
    if (st.step()) cands[kept++] = {c.first, dot_f32(query, blob_vector(st, 0, p_.dim), p_.dim)};
    st.reset();
  }
  cands.resize(kept);
}

std::vector<std::pair<int64_t, float>> VectorIndex::search(const float* query, size_t k, size_t ef_search,
                                                           const std::vector<int64_t>* only, size_t rescore_depth) {
  std::vector<std::pair<int64_t, float>> out;
  if (k == 0) return out;
  auto by_score = [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; };
  auto keep_best = [&](size_t n) {
    n = std::min(n, out.size());
    std::partial_sort(out.begin(), out.begin() + static_cast<ptrdiff_t>(n), out.end(), by_score);
    out.resize(n);
  };
  sync(false);
  if (exact_) {  // the in-memory float matrix; filtered: only the allowed chunks
    auto add_row = [&](size_t row) {
      if (out.size() % 4096 == 0) check_deadline("dense search");
      out.emplace_back(ids_[row], dot_f32(query, matrix_.data() + row * static_cast<size_t>(p_.dim), p_.dim));
    };
    if (only) {
      out.reserve(only->size());
      for (int64_t id : *only) {
        auto it = std::lower_bound(ids_.begin(), ids_.end(), id);  // ids_ ascend
        if (it != ids_.end() && *it == id) add_row(static_cast<size_t>(it - ids_.begin()));
      }
    } else {
      out.reserve(ids_.size());
      for (size_t row = 0; row < ids_.size(); ++row) add_row(row);
    }
  } else if (!hnsw_->int8) {
    out = graph_search(query, k, ef_search, only);
  } else {
    // int8 points choose max(ef_search, k) candidates; the float vectors of the
    // best of them rank them (each re-scored candidate is one table lookup).
    out = graph_search(query, std::max(ef_search, k), ef_search, only);
    keep_best(std::max(rescore_depth > 0 ? std::min(rescore_depth, ef_search) : ef_search, k));
    rescore(query, out);
  }
  keep_best(k);
  return out;
}

}  // namespace edgerag::rag
