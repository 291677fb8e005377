// edgerag eval retrieval: nDCG@10, Recall@100, MRR@10 and query latency on a
// BEIR-format data set, as the BEIR toolkit defines them.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eval/retrieval_beir.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timer.h"

namespace edgerag::cli {
namespace {

struct EvalArgs {
  std::string index, beir, mode = "bm25", embed, rerank, split = "test";
  size_t depth = 100;
  double min_ndcg = -1;
  bool json = false;
  rag::SearchOptions opt;
  rag::IndexOptions index_opt;
};

// A temporary index folder, removed when the evaluation ends.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "edgerag-eval-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw edgerag::Error("cannot create a temporary index folder");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void run(EvalArgs& a) {
  auto data = eval::load_beir(a.beir, a.split);
  std::unique_ptr<TempDir> tmp;
  if (a.index.empty()) tmp = std::make_unique<TempDir>();
  rag::IndexOptions io = a.index_opt;
  io.writable = true;
  auto idx = rag::Index::open(tmp ? tmp->path : a.index, io);
  a.opt.mode = rag::parse_search_mode(a.mode);
  std::string embed = a.embed.empty() ? idx->recorded_embedder() : a.embed;
  if (a.opt.mode != rag::SearchMode::Bm25 && embed.empty())
    throw edgerag::Error(fmt::format("{} evaluation needs --embed MODEL", a.mode));
  if (!embed.empty()) idx->set_embedder(rag::load_embedder(resolve_model_flag(embed)));
  if (!a.rerank.empty()) idx->set_reranker(rag::load_reranker(resolve_model_flag(a.rerank)));

  rag::IngestOptions ing;
  ing.collection = eval::kBeirCollection;
  Timer build;
  auto rep = idx->ingest_texts(data.corpus, ing, [](const rag::IngestProgress& p) {
    log(LogLevel::Debug, "ingested {}/{} documents", p.files_done, p.files_total);
  });
  double build_s = build.seconds();
  eval::BeirRunOptions ro;
  ro.search = a.opt;
  ro.depth = a.depth;
  auto r = eval::run_beir(*idx, data, ro);
  auto st = idx->stats();
  nlohmann::json j = {{"dataset", std::filesystem::path(a.beir).filename().string()},
                      {"split", a.split},
                      {"mode", a.mode},
                      {"ndcg_at_10", r.metrics.ndcg_at_10},
                      {"recall_at_100", r.metrics.recall_at_100},
                      {"mrr_at_10", r.metrics.mrr_at_10},
                      {"queries", r.metrics.queries},
                      {"skipped_queries", r.skipped_queries},
                      {"latency_p50_ms", r.latency_p50_ms},
                      {"latency_p95_ms", r.latency_p95_ms},
                      {"latency_mean_ms", r.latency_mean_ms},
                      {"corpus_documents", data.corpus.size()},
                      {"chunks", st.chunks},
                      {"documents_ingested", rep.added + rep.updated},
                      {"index_build_s", build_s},
                      {"index_bytes", st.bytes_on_disk},
                      {"embedder", st.embedder},
                      {"reranker", a.rerank}};
  if (r.skipped_queries > 0)
    log(LogLevel::Warn, "{} judged queries have no text in queries.jsonl: skipped, not averaged in", r.skipped_queries);
  if (a.json) {
    std::printf("%s\n", j.dump(1).c_str());
  } else {
    std::printf("%s (%s, %zu queries, %s)\n", j["dataset"].get<std::string>().c_str(), a.split.c_str(),
                r.metrics.queries, a.mode.c_str());
    if (r.skipped_queries > 0) std::printf("  skipped     %zu judged queries without text\n", r.skipped_queries);
    std::printf("  nDCG@10     %.4f\n  Recall@100  %.4f\n  MRR@10      %.4f\n", r.metrics.ndcg_at_10,
                r.metrics.recall_at_100, r.metrics.mrr_at_10);
    std::printf("  latency     p50 %.2f ms, p95 %.2f ms\n", r.latency_p50_ms, r.latency_p95_ms);
    std::printf("  index       %zu chunks, %.1f MiB, built in %.2f s\n", st.chunks,
                static_cast<double>(st.bytes_on_disk) / (1 << 20), build_s);
  }
  if (a.min_ndcg >= 0 && r.metrics.ndcg_at_10 < a.min_ndcg)
    throw edgerag::Error(fmt::format("nDCG@10 {:.4f} is below the required {:.4f}", r.metrics.ndcg_at_10, a.min_ndcg));
}

void setup(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("retrieval", "Retrieval quality on a BEIR data set (nDCG@10, Recall@100, MRR@10)");
  cmd->add_option("--beir", a->beir, "BEIR data set folder (corpus.jsonl, queries.jsonl, qrels/)")->required();
  cmd->add_option("--index", a->index, "Index folder to build/reuse (default: a temporary one)");
  cmd->add_option("--mode", a->mode, "bm25, dense or hybrid")->capture_default_str()->check(
      CLI::IsMember({"bm25", "dense", "hybrid"}));
  cmd->add_option("--embed", a->embed, "Embedding model (dense/hybrid)");
  cmd->add_option("--rerank", a->rerank, "Cross-encoder to rerank the fused top results");
  cmd->add_option("--split", a->split, "qrels split")->capture_default_str();
  cmd->add_option("--depth", a->depth, "Documents retrieved per query")->capture_default_str();
  cmd->add_option("--rrf-k", a->opt.rrf_k, "Reciprocal rank fusion constant")->capture_default_str();
  cmd->add_option("--rerank-top", a->opt.rerank_top, "Results the reranker rescores")->capture_default_str();
  // BM25 settings of a new index (an existing one keeps its recorded settings).
  cmd->add_option("--k1", a->index_opt.bm25_k1, "BM25 k1")->capture_default_str();
  cmd->add_option("--b", a->index_opt.bm25_b, "BM25 b")->capture_default_str();
  cmd->add_option("--stopwords", a->index_opt.stopwords, "english or none")->capture_default_str()->check(
      CLI::IsMember({"english", "none"}));
  cmd->add_option("--min-ndcg", a->min_ndcg, "Exit non-zero when nDCG@10 is below this");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] { run(*a); });
}

}  // namespace
EDGERAG_COMMAND("eval retrieval", setup);
}  // namespace edgerag::cli
