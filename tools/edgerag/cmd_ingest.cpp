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
#include "rag/config.h"
#include "rag/index.h"
#include "rag/ingest_progress.h"
#include "rag/search_json.h"
#include "util/error.h"

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
};

void run(const IngestArgs& a) {
  rag::IndexOptions io;
  io.writable = true;
  io.stemming = !a.no_stemming;
  io.stopwords = a.stopwords;
  const rag::IndexConfig ic = a.config.empty() ? rag::IndexConfig{} : rag::load_answer_config(a.config).index;
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
  const bool tty = !a.quiet && isatty(STDERR_FILENO);
  double last = -1;
  auto progress = [&](const rag::IngestProgress& p) {
    if (a.quiet || p.stage != rag::IngestStage::Done) return;
    const bool last_file = p.files_done == p.files_total;
    if (p.seconds - last < (tty ? 0.2 : 5.0) && !last_file) return;
    last = p.seconds;
    if (tty) std::fprintf(stderr, "\r\033[K%s", rag::ingest_progress_text(p, true, terminal_columns()).c_str());
    else std::fprintf(stderr, "%s\n", rag::ingest_progress_text(p, false).c_str());
    std::fflush(stderr);
  };
  auto r = idx->ingest(a.paths, opt, progress);
  if (tty) std::fprintf(stderr, "\r\033[K");
  for (const auto& [path, why] : r.failures) std::fprintf(stderr, "skipped %s: %s\n", path.c_str(), why.c_str());
  if (a.json) {
    auto j = rag::to_json(r);
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
  cmd->add_flag("--json", a->json, "Print the report as JSON");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
  add_device_options(cmd);
  cmd->callback([a] { run(*a); });
}

}  // namespace
EDGERAG_COMMAND("ingest", setup);
}  // namespace edgerag::cli
