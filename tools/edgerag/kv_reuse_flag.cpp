// The chunk KV reuse flags shared by the commands that prefill RAG prompts.
#include "kv_reuse_flag.h"

namespace edgerag::cli {

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
  cmd->add_option("--kv-store", out->store_dir, "Directory keeping chunk KV on disk (optional; safe to delete)");
  cmd->add_option("--kv-store-mb", out->store_mb, "RAM budget of the chunk KV store in MiB")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 20));
}

}  // namespace edgerag::cli
