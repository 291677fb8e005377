// Store of chunk KV (model/chunk_kv.h) shared by every request: the KV of a
// chunk computed once is kept under a key naming the model, the KV cache type
// and the tokens it was computed from (the chunk and the context it saw), in
// RAM under a byte budget with least-recently-used eviction, and optionally in a
// directory on disk (one file per chunk, written to a temporary name and
// renamed, so a reader never sees half a file; bounded by its own byte budget,
// oldest files deleted first; deleting the directory only costs recomputation).
// Entries are immutable and handed out as shared_ptr<const ChunkKv>: requests
// placing the same chunk concurrently read one copy. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "model/chunk_kv.h"

namespace edgerag {

struct ChunkKvStoreOptions {
  size_t ram_bytes = size_t{256} << 20;   // RAM budget (ChunkKv::bytes() summed)
  std::string dir;                        // empty: RAM only
  size_t disk_bytes = size_t{2} << 30;    // disk budget of the directory's chunk files
};

struct ChunkKvStoreStats {
  uint64_t hits = 0, disk_hits = 0, misses = 0, evictions = 0, disk_writes = 0, disk_rejects = 0;
  size_t ram_bytes = 0, disk_bytes = 0;
  size_t chunks = 0;  // in RAM
};

class ChunkKvStore {
 public:
  // Creates the directory if asked for one and indexes the chunk files in it.
  explicit ChunkKvStore(ChunkKvStoreOptions opt);
  ChunkKvStore(const ChunkKvStore&) = delete;
  ChunkKvStore& operator=(const ChunkKvStore&) = delete;

  // Hex SHA-256 of (model, KV type, context tokens, chunk tokens).
  static std::string key(std::string_view model_id, const KvType& type, std::span<const int32_t> context,
                         std::span<const int32_t> chunk);

  // The chunk under `key` (RAM, else disk: read, checked and kept in RAM), or null.
  std::shared_ptr<const ChunkKv> find(const std::string& key);
  // Keeps the chunk in RAM (evicting the least recently used beyond the budget;
  // a chunk larger than the whole budget is not kept) and writes it to disk.
  void put(const std::string& key, std::shared_ptr<const ChunkKv> chunk);

  // Whether the chunk is kept (RAM, or a file in the directory's index), without reading it.
  bool contains(const std::string& key) const;
  // Whether the directory's budget takes the chunk's file without deleting
  // another one (false without a directory): a bulk fill stops there rather
  // than evicting what it stored first.
  bool disk_has_room(const ChunkKv& chunk) const;

  ChunkKvStoreStats stats() const;
  const ChunkKvStoreOptions& options() const { return opt_; }

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const ChunkKv> chunk;
  };
  struct DiskFile {
    std::string key;
    size_t bytes;
  };
  void keep_in_ram(const std::string& key, std::shared_ptr<const ChunkKv> chunk);  // lock held
  void write_file(const std::string& key, const ChunkKv& chunk);                   // lock held
  std::shared_ptr<const ChunkKv> read_file(const std::string& key);                // lock held
  std::string file_path(const std::string& key) const;

  ChunkKvStoreOptions opt_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> ram_;
  std::list<DiskFile> disk_lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<DiskFile>::iterator> disk_;
  ChunkKvStoreStats stats_;
};

// Serialized chunk (the disk format): a fixed header, then the rows. parse
// checks every field against the data's size and throws edgerag::Error on
// anything malformed.
std::string serialize_chunk(const ChunkKv& chunk);
size_t serialized_size(const ChunkKv& chunk);  // serialize_chunk(chunk).size()
ChunkKv parse_chunk(std::string_view bytes);

}  // namespace edgerag
