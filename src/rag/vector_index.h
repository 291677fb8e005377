// Dense vectors of an index. SQLite (table `vectors`) is the source of truth;
// this keeps the searchable copy: an exact in-memory matrix for small
// collections, an HNSW graph (hnswlib) saved next to the database otherwise.
// The graph file is named after the database's vector generation, which
// every commit that changes vectors bumps, so a stale or half-written graph
// is never used: it is brought up to date (or rebuilt) from the database.
// Triggers log each inserted or deleted vector with the generation it enters
// (table `vector_log`), so bringing a graph up to date reads only the vectors
// changed since its generation (hnswlib addPoint / markDelete), not the table.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rag/sqlite_db.h"

namespace edgerag::rag {

struct VectorIndexParams {
  int dim = 0;
  int m = 16;
  int ef_construction = 200;
  size_t exact_below = 20000;
  bool int8 = false;  // graph points as int8 codes (rag/int8_codes.h), re-scored in float
};

class VectorIndex {
 public:
  VectorIndex(Db& db, std::string dir, VectorIndexParams params);
  ~VectorIndex();

  // Top-k chunk ids by inner product (cosine for normalized vectors), best first.
  // With `only` set, searches exactly among those chunk ids (filtered search),
  // reading their vectors from the in-memory copy. With int8 graph points the
  // max(rescore_depth, k) best by int8 score (rescore_depth 0: max(ef_search, k);
  // of the allowed chunks, when filtered) are re-scored with their float vectors
  // from the table: scores are exact, membership approximate.
  std::vector<std::pair<int64_t, float>> search(const float* query, size_t k, size_t ef_search,
                                                const std::vector<int64_t>* only = nullptr, size_t rescore_depth = 0);
  // Brings the searchable copy up to the database's generation; with `save`,
  // writes the HNSW graph file (writers only) and removes stale ones.
  void sync(bool save);

  static std::string graph_path(const std::string& dir, int64_t generation);
  // The parameters recorded in the index's meta table; dim 0 when it has no dense vectors.
  static VectorIndexParams recorded_params(Db& db);
  // The change log and its triggers (idempotent; writers, inside their schema transaction).
  static void create_schema(Db& db);

 private:
  struct Hnsw;
  int64_t meta_int(const char* key, int64_t fallback);
  void load_exact(int64_t gen);
  int64_t load_newest_graph(int64_t gen);
  void apply_log(int64_t since);
  void apply_full_diff(size_t count);
  void prune_log(int64_t gen);
  std::vector<std::pair<int64_t, float>> graph_search(const float* query, size_t n, size_t ef_search,
                                                      const std::vector<int64_t>* only);
  void rescore(const float* query, std::vector<std::pair<int64_t, float>>& cands);

  Db& db_;
  std::string dir_;
  VectorIndexParams p_;
  int64_t loaded_gen_ = -1;
  bool exact_ = true;
  std::vector<int64_t> ids_;    // exact mode: rows of `matrix_`
  std::vector<float> matrix_;
  std::unique_ptr<Hnsw> hnsw_;
};

// Bumps the vector generation inside the caller's transaction.
void bump_vector_generation(Db& db);

}  // namespace edgerag::rag
