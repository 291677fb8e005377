// A consistent copy of an index taken while a writer ingests into it: what a
// writer node publishes to read-only replicas (`edgerag index snapshot`,
// `serve --read-only`, docs/SCALING.md).
//
//   snapshot_index("writer/idx", "snapshots/0042", {});
//
// The copy is one commit of the database (SQLite's online backup inside one
// read transaction; the writer is never blocked) plus an HNSW graph of exactly
// that commit's vector generation. It is assembled in a hidden folder next to
// `out` and renamed into place, so `out` is either absent, the old copy or the
// whole new one. The database is left in rollback-journal mode, so a reader
// needs no -wal/-shm files and the folder can be read-only.
#pragma once
#include <cstdint>
#include <string>

namespace edgerag::rag {

struct SnapshotOptions {
  bool replace = false;  // replace an existing `out` (atomically); otherwise refuse
};

struct SnapshotReport {
  std::string dir;                  // the snapshot folder
  size_t documents = 0, chunks = 0, vectors = 0;
  int64_t vector_generation = 0;    // the commit's vec_gen (names the graph file)
  bool graph = false;               // an HNSW graph file was written (else exact dense search)
  uint64_t bytes = 0;               // on disk
  double seconds = 0;
};

SnapshotReport snapshot_index(const std::string& index_dir, const std::string& out, const SnapshotOptions& options = {});

}  // namespace edgerag::rag
