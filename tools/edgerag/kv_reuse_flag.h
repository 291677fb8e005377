// --kv-reuse prefix|chunks-exact|chunks, --recompute-share S, --recompute-first N,
// --kv-store DIR, --kv-store-mb MB: chunk KV reuse of the commands that prefill RAG prompts.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/chunk_prefill.h"

namespace edgerag::cli {

struct KvReuseFlags {
  KvReuseOptions reuse;
  std::string store_dir;
  size_t store_mb = 1024;
};

void add_kv_reuse_options(CLI::App* cmd, KvReuseFlags* out);

}  // namespace edgerag::cli
