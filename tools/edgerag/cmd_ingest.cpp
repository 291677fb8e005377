// edgerag ingest: add files and folders to an index (incremental, idempotent).
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command.h"
#include "device_flag.h"
#include "kv_reuse_flag.h"
#include "kv_type_flag.h"
#include "model/model.h"
#include "rag/chunk_kv_fill.h"
#include "rag/config.h"
#include "rag/index.h"
#include "rag/ingest_progress.h"
#include "rag/search_json.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace edgerag::cli {
namespace {

size_t terminal_columns() {
  winsize ws{};
  return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col - 1 : 79;
}

struct IngestArgs {
  std::string index, collection = "default", embed;
  std::vector<std::string> paths;
  bool ocr = false, prune = false, json = false, no_stemming = false, quiet = false;
  std::string ocr_lang = "eng", stopwords = "english";
  size_t max_tokens = 512, overlap = 1, min_tokens = 32;
  std::string config;  // TOML file; its [index] section sets up a new index
  std::optional<int> hnsw_m, ef_construction, exact_below;  // flags win over the file
  std::optional<std::string> vectors;
  std::vector<std::string> limits;  // NAME=VALUE
  // Chunk KV precomputed for the collection's chunks (rag/chunk_kv_fill.h).
  std::string kv_model, kv_mode = "both";
  KvStoreFlags kv_store;
  KvType kv_type = default_kv_type();
  int kv_threads = 0, kv_ctx = 0;
};

// Prints a progress line on stderr: redrawn on a terminal (every 0.2 s), a plain line every 5 s otherwise.
struct ProgressLine {
  bool quiet, tty;
  double last = -1;
  void show(double seconds, bool final, const std::string& text) {
    if (quiet || (seconds - last < (tty ? 0.2 : 5.0) && !final)) return;
    last = seconds;
    if (tty) std::fprintf(stderr, "\r\033[K%s", text.c_str());
    else std::fprintf(stderr, "%s\n", text.c_str());
    std::fflush(stderr);
  }
  void clear() const {
    if (!quiet && tty) std::fprintf(stderr, "\r\033[K");
  }
};

rag::ChunkKvFillReport fill_kv(const IngestArgs& a, rag::Index& idx, const rag::AnswerConfig& cfg) {
  ChunkKvStore store([&] {
    ChunkKvStoreOptions so = a.kv_store.options();
    so.ram_bytes = 0;  // chunks go to disk only: ingest never reads them back
    return so;
  }());
  auto model = Model::load(resolve_model_flag(a.kv_model));
  ThreadPool pool(a.kv_threads > 0 ? a.kv_threads : default_thread_count());
  rag::ChunkKvFillOptions fo;
  if (a.kv_mode == "chunks") fo.modes = {KvReuse::Chunks};
  if (a.kv_mode == "chunks-exact") fo.modes = {KvReuse::ChunksExact};
  fo.kv_type = a.kv_type;
  fo.n_ctx = a.kv_ctx;
  ProgressLine line{a.quiet, !a.quiet && isatty(STDERR_FILENO)};
  auto rep = rag::fill_chunk_kv(idx, a.collection, *model, pool, store, cfg, fo,
                                [&](const rag::ChunkKvFillReport& r, size_t total) {
                                  line.show(r.seconds, r.chunks == total && r.seconds > 0,
                                            fmt::format("chunk KV: {}/{} chunks, {} stored, {} already stored, "
                                                        "{:.1f} MiB on disk",
                                                        r.chunks, total, r.stored, r.present,
                                                        static_cast<double>(store.stats().disk_bytes) / (1 << 20)));
                                });
  line.clear();
  return rep;
}

void run(const IngestArgs& a) {
  rag::IndexOptions io;
  io.writable = true;
  io.stemming = !a.no_stemming;
  io.stopwords = a.stopwords;
  EDGERAG_CHECK(a.kv_model.empty() || !a.kv_store.dir.empty(), "ingest: --kv-model needs --kv-store DIR");
  const rag::AnswerConfig cfg = a.config.empty() ? rag::AnswerConfig{} : rag::load_answer_config(a.config);
  const rag::IndexConfig& ic = cfg.index;
  io.hnsw_m = a.hnsw_m.value_or(ic.hnsw_m);
  io.hnsw_ef_construction = a.ef_construction.value_or(ic.ef_construction);
  io.exact_below = static_cast<size_t>(a.exact_below.value_or(ic.exact_below));
  io.vectors = a.vectors.value_or(ic.vectors);
  rag::ReadLimits limits;
  for (const auto& l : a.limits) rag::set_read_limit(limits, l);  // flag errors before the index opens
  auto idx = rag::Index::open(a.index, io);
  // The model recorded in the index is reused unless another one is named.
  std::string embed = a.embed.empty() ? idx->recorded_embedder() : a.embed;
  if (!embed.empty()) idx->set_embedder(rag::load_embedder(resolve_model_flag(embed)));

  rag::IngestOptions opt;
  opt.collection = a.collection;
  opt.ocr = a.ocr;
  opt.ocr_language = a.ocr_lang;
  opt.prune = a.prune;
  opt.chunk = {a.max_tokens, a.overlap, a.min_tokens};
  opt.limits = limits;
  // Progress on stderr: a bar redrawn on a terminal, a plain line every few seconds otherwise.
  ProgressLine line{a.quiet, !a.quiet && isatty(STDERR_FILENO)};
  auto progress = [&](const rag::IngestProgress& p) {
    if (p.stage != rag::IngestStage::Done) return;
    line.show(p.seconds, p.files_done == p.files_total, rag::ingest_progress_text(p, line.tty, terminal_columns()));
  };
  auto r = idx->ingest(a.paths, opt, progress);
  line.clear();
  for (const auto& [path, why] : r.failures) std::fprintf(stderr, "skipped %s: %s\n", path.c_str(), why.c_str());
  std::optional<rag::ChunkKvFillReport> kv;
  if (!a.kv_model.empty() && !r.all_failed()) kv = fill_kv(a, *idx, cfg);
  if (a.json) {
    auto j = rag::to_json(r);
    if (kv)
      j["kv_store"] = {{"chunks", kv->chunks},           {"stored", kv->stored},   {"already_stored", kv->present},
                       {"unplaceable", kv->unplaceable}, {"over_budget", kv->over_budget}, {"tokens", kv->tokens},
                       {"seconds", kv->seconds}};
    auto s = idx->stats();
    j["index"] = {{"documents", s.documents}, {"chunks", s.chunks}, {"vectors", s.vectors}, {"bytes", s.bytes_on_disk}};
    std::printf("%s\n", rag::json_text(j).c_str());
  } else {
    auto s = idx->stats();
    std::printf("%zu files: %zu added, %zu updated, %zu unchanged, %zu removed, %zu failed; %zu chunks in %.2f s (%.1f chunks/s)\n",
                r.files_seen, r.added, r.updated, r.unchanged, r.removed, r.failed, r.chunks_written, r.seconds,
                r.seconds > 0 ? static_cast<double>(r.chunks_written) / r.seconds : 0.0);
    std::printf("index %s: %zu documents, %zu chunks, %zu vectors, %.1f MiB\n", a.index.c_str(), s.documents,
                s.chunks, s.vectors, static_cast<double>(s.bytes_on_disk) / (1 << 20));
    if (kv)
      std::printf("chunk KV %s: %zu chunks, %zu entries stored, %zu already stored, %zu unplaceable, %zu left over the "
                  "disk budget; %lld tokens in %.2f s\n",
                  a.kv_store.dir.c_str(), kv->chunks, kv->stored, kv->present, kv->unplaceable, kv->over_budget,
                  static_cast<long long>(kv->tokens), kv->seconds);
  }
  if (!r.missing.empty()) throw Error(fmt::format("no such file or folder: {}", fmt::join(r.missing, ", ")));
  if (r.all_failed()) throw Error(fmt::format("nothing ingested: all {} file(s) failed", r.failed));
}

void setup(CLI::App& app) {
  auto a = std::make_shared<IngestArgs>();
  auto* cmd = app.add_subcommand("ingest", "Add files and folders to an index (unchanged files are skipped)");
  cmd->add_option("--index", a->index, "Index folder (created if missing)")->required();
  cmd->add_option("paths", a->paths, "Files or folders (recursive)")->required();
  cmd->add_option("--collection", a->collection, "Named collection inside the index")->capture_default_str();
  cmd->add_option("--embed", a->embed, "Embedding model for dense vectors (default: the one recorded in the index)");
  cmd->add_flag("--ocr", a->ocr, "OCR images and PDF pages without a text layer (tesseract)");
  cmd->add_option("--ocr-lang", a->ocr_lang, "Tesseract language")->capture_default_str();
  cmd->add_flag("--prune", a->prune, "Remove documents of the collection whose file is gone");
  cmd->add_option("--max-tokens", a->max_tokens, "Chunk budget (embedding tokens, or words without a model)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{8}, size_t{1} << 20));
  cmd->add_option("--overlap", a->overlap, "Sentences repeated between consecutive chunks")->capture_default_str();
  cmd->add_option("--min-tokens", a->min_tokens, "Merge trailing fragments smaller than this")->capture_default_str();
  cmd->add_option("--stopwords", a->stopwords, "BM25 stop words at index creation: english, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"english", "none"}));
  cmd->add_flag("--no-stemming", a->no_stemming, "No Porter stemming (at index creation)");
  // Index settings apply when the index is created: flag, else the --config file's [index], else the default.
  cmd->add_option("--config", a->config, "TOML file whose [index] section sets up a new index (flags win)");
  cmd->add_option("--hnsw-m", a->hnsw_m, "HNSW M (at index creation; default 16)")->check(CLI::Range(2, 256));
  cmd->add_option("--ef-construction", a->ef_construction, "HNSW ef_construction (at index creation; default 200)")
      ->check(CLI::Range(4, 4096));
  cmd->add_option("--exact-below", a->exact_below,
                  "Exact dense search below this many vectors (at index creation; default 20000)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--vectors", a->vectors,
                  "HNSW points: f32, or int8 (a quarter of the memory; candidates re-scored in float) "
                  "(at index creation; default f32)")
      ->check(CLI::IsMember({"f32", "int8"}));
  cmd->add_option("--limit", a->limits,
                  "Per-file reader limit NAME=VALUE, repeatable (docs/SECURITY.md): file_bytes, text_bytes, "
                  "unzipped_bytes, depth, html_errors, rows, columns, keys, seconds");
  auto* kv = "Chunk KV precomputed at ingest (docs/PERFORMANCE.md, chunk KV reuse)";
  cmd->add_option("--kv-model", a->kv_model,
                  "LLM whose chunk KV of the collection's chunks goes to --kv-store (the answer settings of --config)")
      ->group(kv);
  add_kv_store_options(cmd, &a->kv_store, false);
  cmd->add_option("--kv-mode", a->kv_mode, "Entries to store: chunks, chunks-exact (first block only) or both")
      ->capture_default_str()->check(CLI::IsMember({"chunks", "chunks-exact", "both"}))->group(kv);
  add_kv_type_option(cmd, &a->kv_type)->group(kv);
  cmd->add_option("--kv-threads", a->kv_threads, "Threads computing chunk KV (0 = all cores)")
      ->check(CLI::Range(0, 1024))->group(kv);
  cmd->add_option("--kv-ctx", a->kv_ctx, "LLM context of the asks that will read the store (0 = the model's, at "
                  "most 4096)")->check(CLI::Range(0, 1 << 24))->group(kv);
  cmd->add_flag("--json", a->json, "Print the report as JSON");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
  add_device_options(cmd);
  cmd->callback([a] { run(*a); });
}

}  // namespace
EDGERAG_COMMAND("ingest", setup);
}  // namespace edgerag::cli
