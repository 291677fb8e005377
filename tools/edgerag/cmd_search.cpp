// edgerag search: BM25, dense or hybrid retrieval over an index.
#include <cstdio>
#include <memory>

#include "command.h"
#include "rag/index.h"
#include "rag/search_json.h"
#include "util/error.h"

namespace edgerag::cli {
namespace {

struct SearchArgs {
  std::string index, mode, embed, rerank;
  std::vector<std::string> query;
  rag::SearchOptions opt;
  bool json = false;
};

void run(SearchArgs& a) {
  auto idx = rag::Index::open(a.index);
  std::string recorded = idx->recorded_embedder();
  // Default: hybrid when the index has dense vectors, BM25 otherwise.
  a.opt.mode = a.mode.empty() ? (recorded.empty() ? rag::SearchMode::Bm25 : rag::SearchMode::Hybrid)
                              : rag::parse_search_mode(a.mode);
  if (a.opt.mode != rag::SearchMode::Bm25) {
    std::string embed = a.embed.empty() ? recorded : a.embed;
    if (embed.empty()) throw edgerag::Error("this index has no dense vectors: use --mode bm25 or ingest with --embed");
    idx->set_embedder(rag::load_embedder(resolve_model_flag(embed)));
  }
  if (!a.rerank.empty()) idx->set_reranker(rag::load_reranker(resolve_model_flag(a.rerank)));
  std::string q;
  for (const auto& w : a.query) q += (q.empty() ? "" : " ") + w;
  auto res = idx->search(q, a.opt);
  if (a.json) {
    auto j = rag::to_json(res);
    j["query"] = q;
    j["mode"] = rag::search_mode_name(a.opt.mode);
    std::printf("%s\n", rag::json_text(j).c_str());
    return;
  }
  for (size_t i = 0; i < res.hits.size(); ++i) {
    const auto& h = res.hits[i];
    const auto& p = h.provenance;
    std::string where = p.path;
    if (p.page > 0) where += fmt::format(" p.{}", p.page);
    if (p.row_begin >= 0) where += fmt::format(" rows {}-{}", p.row_begin, p.row_end);
    if (!p.headings.empty()) where += " [" + p.headings + "]";
    std::string text = h.text.size() > 300 ? h.text.substr(0, 300) + "..." : h.text;
    for (char& c : text)
      if (c == '\n') c = ' ';
    std::printf("%s%zu. %.4f  %s\n   %s\n", h.neighbor ? "  +" : "", i + 1, h.score, where.c_str(), text.c_str());
  }
  std::fprintf(stderr, "%zu hits in %.1f ms (%s%s)\n", res.hits.size(), res.timings.total_ms,
               rag::search_mode_name(a.opt.mode), res.reranked ? ", reranked" : "");
  if (!res.rerank_note.empty()) std::fprintf(stderr, "rerank %s\n", res.rerank_note.c_str());
}

void setup(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  auto& o = a->opt;
  auto* cmd = app.add_subcommand("search", "Search an index (BM25, dense or hybrid)");
  cmd->add_option("--index", a->index, "Index folder")->required();
  cmd->add_option("query", a->query, "Query text")->required();
  cmd->add_option("--mode", a->mode, "bm25, dense or hybrid (default: hybrid if the index has vectors)")
      ->check(CLI::IsMember({"bm25", "dense", "hybrid"}));
  cmd->add_option("-k", o.k, "Results")->capture_default_str()->check(CLI::Range(size_t{1}, size_t{10000}));
  cmd->add_option("--embed", a->embed, "Embedding model (default: the one recorded in the index)");
  cmd->add_option("--rerank", a->rerank, "Cross-encoder model to rerank the top results");
  cmd->add_option("--rerank-top", o.rerank_top, "Fused results the reranker rescores")->capture_default_str();
  cmd->add_option("--rerank-skip", o.rerank_skip_agreement,
                  "Skip reranking when BM25 and dense top-10 overlap at least this much (>1: never skip)")
      ->capture_default_str();
  cmd->add_option("--bm25-depth", o.bm25_depth, "BM25 candidates before fusion")->capture_default_str();
  cmd->add_option("--dense-depth", o.dense_depth, "Dense candidates before fusion")->capture_default_str();
  cmd->add_option("--rrf-k", o.rrf_k, "Reciprocal rank fusion constant")->capture_default_str();
  cmd->add_option("--expand", o.expand_neighbors, "Add N neighbouring chunks around each hit")->capture_default_str();
  cmd->add_option("--ef-search", o.ef_search, "HNSW search breadth")->capture_default_str();
  cmd->add_option("--rescore-depth", o.rescore_depth, "int8 graphs: candidates re-scored with float vectors (0: all)")
      ->capture_default_str();
  cmd->add_option("--collection", o.filter.collections, "Only these collections (repeatable)");
  cmd->add_option("--path-prefix", o.filter.path_prefix, "Only documents under this path");
  cmd->add_option("--type", o.filter.file_types, "Only these file types: txt, md, html, pdf, ... (repeatable)");
  cmd->add_flag("--json", a->json, "Print results as JSON (text, per-stage scores, provenance, timings)");
  cmd->callback([a] { run(*a); });
}

}  // namespace
EDGERAG_COMMAND("search", setup);
}  // namespace edgerag::cli
