// --kv-reuse prefix|chunks-exact|chunks, --recompute-share S, --recompute-first N:
// chunk KV reuse of the commands that prefill RAG prompts; --kv-store DIR,
// --kv-store-mb MB, --kv-store-disk-mb MB: the chunk KV store they (and ingest) use.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/chunk_kv_store.h"
#include "runtime/chunk_prefill.h"

namespace edgerag::cli {

struct KvStoreFlags {
  std::string dir;
  size_t ram_mb = 1024, disk_mb = 2048;
  ChunkKvStoreOptions options() const { return {.ram_bytes = ram_mb << 20, .dir = dir, .disk_bytes = disk_mb << 20}; }
};

struct KvReuseFlags {
  KvReuseOptions reuse;
  KvStoreFlags store;
};

// --kv-store and --kv-store-disk-mb; with `ram`, --kv-store-mb too.
void add_kv_store_options(CLI::App* cmd, KvStoreFlags* out, bool ram = true);
void add_kv_reuse_options(CLI::App* cmd, KvReuseFlags* out);

}  // namespace edgerag::cli
