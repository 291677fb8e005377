// The chunk KV reuse and store flags shared by the commands that prefill RAG prompts.
#include "kv_reuse_flag.h"

namespace edgerag::cli {

void add_kv_store_options(CLI::App* cmd, KvStoreFlags* out, bool ram) {
  cmd->add_option("--kv-store", out->dir, "Directory keeping chunk KV on disk (optional; safe to delete)");
  if (ram)
    cmd->add_option("--kv-store-mb", out->ram_mb, "RAM budget of the chunk KV store in MiB")
        ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("--kv-store-disk-mb", out->disk_mb, "Disk budget of the --kv-store directory in MiB")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 24));
}

void add_kv_reuse_options(CLI::App* cmd, KvReuseFlags* out) {
  cmd->add_option_function<std::string>(
         "--kv-reuse", [out](const std::string& v) { out->reuse.mode = kv_reuse_from_name(v); },
         "KV reuse of retrieved chunks: prefix (exact prefixes only), chunks-exact (chunks under the same preceding "
         "prompt: identical output), chunks (any order, re-rotated keys + selective recompute)")
      ->default_str("prefix");
  cmd->add_option("--recompute-share", out->reuse.recompute_share,
                  "chunks: share of the placed chunks' tokens recomputed in context")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--recompute-first", out->reuse.recompute_first,
                  "chunks: leading tokens of each placed chunk always recomputed")
      ->capture_default_str()->check(CLI::Range(0, 1 << 16));
  add_kv_store_options(cmd, &out->store);
}

}  // namespace edgerag::cli
