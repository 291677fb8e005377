// edgerag bench gen / bench embed / bench retrieval: speed and memory figures as JSON.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "eval/bench.h"
#include "eval/bench_retrieval.h"
#include "kv_type_flag.h"
#include "spec_flag.h"

namespace edgerag::cli {
namespace {

void setup_gen(CLI::App& app) {
  auto* cmd = app.add_subcommand("gen", "Prefill / decode speed, time to first token, memory, bandwidth bound");
  auto o = std::make_shared<GenBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("-m,--model", o->model, "Decoder model file or name")->required();
  cmd->add_option("-p,--prompt-tokens", o->n_prompt, "Prompt tokens");
  cmd->add_option("-n,--gen-tokens", o->n_gen, "Generated tokens");
  cmd->add_option("--threads", o->n_threads, "Worker threads (default: all)");
  cmd->add_option("--reps", o->reps, "Repetitions (medians are reported)");
  add_kv_type_option(cmd, &o->kv_type);
  add_device_options(cmd);
  cmd->add_option("--ctx-sweep", o->ctx_sweep, "Also prefill and decode at these context lengths (e.g. 512,1024,2048,4096)")
      ->delimiter(',');
  auto no_bandwidth = std::make_shared<bool>(false);
  cmd->add_flag("--no-bandwidth", *no_bandwidth, "Skip the read-bandwidth probe (no decode_bound_fraction)");
  auto spec = add_speculative_options(cmd);
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, json, no_bandwidth, spec] {
    o->model = resolve_model_flag(o->model);
    o->spec = spec->options();
    o->bandwidth = !*no_bandwidth;
    const GenBenchResult r = bench_gen(*o);
    nlohmann::json j{{"model", r.model}, {"threads", r.n_threads}, {"n_prompt", r.n_prompt},
                           {"n_gen", r.n_gen}, {"reps", r.reps}, {"prefill_tok_s", r.prefill_tok_s},
                           {"decode_tok_s", r.decode_tok_s}, {"ttft_ms", r.ttft_ms}, {"peak_rss_mb", r.peak_rss_mb},
                           {"bytes_per_token", r.bytes_per_token}, {"bandwidth_gb_s", r.bandwidth_gb_s},
                           {"bandwidth_min_gb_s", r.bandwidth_min_gb_s}, {"bandwidth_max_gb_s", r.bandwidth_max_gb_s},
                           {"bandwidth_passes", r.bandwidth_passes},
                           {"decode_bound_fraction", r.decode_bound_fraction}, {"load_ms", r.load_ms},
                           {"cpu_utilization", r.cpu_utilization}, {"kv_type", r.kv_type},
                           {"kv_bytes_per_token", r.kv_bytes_per_token}, {"speculative", speculative_name(o->spec)},
                           {"device", r.device}, {"vram_weights_mb", r.vram_weights_mb},
                           {"vram_kv_mb", r.vram_kv_mb}, {"vram_peak_mb", r.vram_peak_mb}};
    for (const CtxSweepRow& row : r.ctx_sweep)
      j["ctx_sweep"].push_back({{"n_ctx", row.n_ctx}, {"prefill_tok_s", row.prefill_tok_s},
                                {"decode_tok_s", row.decode_tok_s}, {"cpu_utilization", row.cpu_utilization}});
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("prefill %.1f tok/s, decode %.2f tok/s x %.1f MB/token = %.1f GB/s, ttft %.0f ms, peak RSS %.0f MB\n",
                r.prefill_tok_s, r.decode_tok_s, r.bytes_per_token / 1e6, r.decode_tok_s * r.bytes_per_token / 1e9,
                r.ttft_ms, r.peak_rss_mb);
    if (r.bandwidth_passes > 0)
      std::printf("%.0f%% of the probe's median %.1f GB/s (%d passes: min %.1f, max %.1f)\n",
                  100 * r.decode_bound_fraction, r.bandwidth_gb_s, r.bandwidth_passes, r.bandwidth_min_gb_s,
                  r.bandwidth_max_gb_s);
    for (const CtxSweepRow& row : r.ctx_sweep)
      std::printf("context %6d: prefill %.1f tok/s, decode %.2f tok/s\n", row.n_ctx, row.prefill_tok_s,
                  row.decode_tok_s);
  });
}

void setup_embed(CLI::App& app) {
  auto* cmd = app.add_subcommand("embed", "Embedding (or rerank) throughput at batch 1 and 32");
  auto o = std::make_shared<EmbedBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("-m,--model", o->model, "Embedding or reranker model file or name")->required();
  cmd->add_option("--texts", o->n_texts, "Texts per run");
  cmd->add_option("--words", o->words_per_text, "Words per text");
  cmd->add_option("--batch", o->batch_sizes, "Batch sizes to measure")->delimiter(',');
  cmd->add_option("--threads", o->n_threads, "Worker threads (default: all)");
  cmd->add_option("--reps", o->reps, "Repetitions (medians are reported)");
  cmd->add_flag("--json", *json, "Print one JSON object");
  add_device_options(cmd);
  cmd->callback([o, json] {
    o->model = resolve_model_flag(o->model);
    const EmbedBenchResult r = bench_embed(*o);
    nlohmann::json j{{"model", r.model}, {"device", r.device}, {"threads", r.n_threads}, {"n_texts", r.n_texts}, {"reps", r.reps},
                     {"tokens_per_text", r.tokens_per_text}, {"peak_rss_mb", r.peak_rss_mb}};
    for (const EmbedBenchRow& row : r.rows)
      j["batch_" + std::to_string(row.batch)] = {{"texts_per_s", row.texts_per_s},
                                                 {"tokens_per_s", row.tokens_per_s},
                                                 {"tokens_per_cpu_s", row.tokens_per_cpu_s},
                                                 {"cpu_utilization", row.cpu_utilization}};
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    for (const EmbedBenchRow& row : r.rows)
      std::printf("batch %3d: %8.1f texts/s %9.0f tokens/s\n", row.batch, row.texts_per_s, row.tokens_per_s);
  });
}

void setup_retrieval(CLI::App& app) {
  auto* cmd = app.add_subcommand("retrieval",
                                 "BM25 (and with --dim, dense and hybrid) latency and ingest speed as a synthetic corpus grows");
  auto o = std::make_shared<eval::RetrievalBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--chunks", o->chunks, "Index sizes to measure, ascending (the index grows through them)")
      ->delimiter(',');
  cmd->add_option("--queries", o->queries, "Queries per size");
  cmd->add_option("--exhaustive-queries", o->exhaustive_queries,
                  "Of those, also scored exhaustively (FTS5) and compared with the pruned ranking");
  cmd->add_option("-k", o->k, "Results per query");
  cmd->add_option("--vocabulary", o->vocabulary, "Distinct words (Zipfian frequencies)");
  cmd->add_option("--words", o->mean_words, "Mean words per chunk");
  cmd->add_option("--seed", o->seed, "Corpus and query seed");
  cmd->add_option("--dir", o->dir, "Empty folder for the indexes (default: a temporary one, removed)");
  cmd->add_flag("--reopen", o->reopen,
                "Measure the synthetic index an earlier run with the same settings left in --dir "
                "(ingesting only the chunks it lacks)");
  cmd->add_option("--beir", o->beir, "Also measure this BEIR data set (e.g. SciFact)");
  cmd->add_option("--dim", o->dim, "Synthetic vector dimension: also dense and hybrid, recall@k against exact search")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--vectors", o->vectors, "HNSW points: f32 or int8")->check(CLI::IsMember({"f32", "int8"}));
  cmd->add_option("--hnsw-m", o->hnsw_m, "HNSW M")->check(CLI::Range(2, 256));
  cmd->add_option("--ef-construction", o->ef_construction, "HNSW ef_construction")->check(CLI::Range(4, 4096));
  cmd->add_option("--ef-search", o->ef_search,
                  "HNSW ef_search; several (e.g. 64,128,256) time dense search and recall@k at each")
      ->delimiter(',')
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--rescore-depth", o->rescore_depth,
                  "int8 graphs: candidates re-scored with float vectors (0: all ef_search)")
      ->check(CLI::Range(0, 10000));
  cmd->add_option("--clusters", o->clusters, "Centroids of the synthetic vectors")->check(CLI::Range(1, 1000000));
  cmd->add_option("--recall-queries", o->recall_queries,
                  "Of the queries, those whose exact top-k is computed for recall@k (each scans every vector)");
  cmd->add_option("--insert", o->insert,
                  "Then add this many chunks to the largest index (its graph updated in place) and time it");
  cmd->add_flag("--progress", o->progress, "A line on stderr per ingest call and size");
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, json] {
    const eval::RetrievalBenchResult r = eval::bench_retrieval(*o);
    auto lat = [](const eval::LatencyStats& s) {
      return nlohmann::json{{"p50_ms", s.p50_ms}, {"p95_ms", s.p95_ms}, {"p99_ms", s.p99_ms}, {"mean_ms", s.mean_ms}};
    };
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : r.rows)
      rows.push_back({{"corpus", row.corpus}, {"chunks", row.chunks}, {"reopened", row.reopened}, {"ingest_s", row.ingest_s},
                      {"ingest_chunks_per_s", row.ingest_chunks_per_s}, {"ingest_cpu_s", row.ingest_cpu_s},
                      {"reference_fts_s", row.reference_fts_s}, {"index_bytes", row.index_bytes},
                      {"queries", row.queries}, {"k", o->k}, {"bm25", lat(row.bm25)}, {"bm25_cpu", lat(row.bm25_cpu)},
                      {"bm25_exhaustive", lat(row.exhaustive)}, {"compared", row.compared},
                      {"identical", row.identical}});
    if (o->dim > 0)
      for (size_t i = 0; i < r.rows.size(); ++i)
        if (r.rows[i].corpus == "synthetic") {
          nlohmann::json sweep = nlohmann::json::array();
          for (const auto& p : r.rows[i].sweep)
            sweep.push_back({{"ef_search", p.ef_search}, {"dense", lat(p.dense)}, {"dense_cpu", lat(p.dense_cpu)},
                             {"recall_at_k", p.recall_at_k}});
          // dense, hybrid and recall_at_k at the first ef_search; sweep: dense at each
          rows[i].update({{"dim", o->dim}, {"vectors", o->vectors}, {"hnsw_m", o->hnsw_m},
                          {"ef_construction", o->ef_construction}, {"ef_search", o->ef_search.front()},
                          {"rescore_depth", o->rescore_depth},
                          {"dense", lat(r.rows[i].dense)}, {"hybrid", lat(r.rows[i].hybrid)},
                          {"recall_at_k", r.rows[i].recall_at_k}, {"recall_queries", std::min(o->queries, o->recall_queries)},
                          {"graph_bytes", r.rows[i].graph_bytes}, {"sweep", sweep}});
        }
    nlohmann::json j{{"rows", rows}, {"peak_rss_mb", r.peak_rss_mb}, {"load_before", r.load_before},
                     {"load_after", r.load_after}};
    if (r.inserted > 0)
      j["insert"] = {{"chunks", r.inserted}, {"seconds", r.insert_s},
                     {"chunks_per_s", static_cast<double>(r.inserted) / std::max(r.insert_s, 1e-9)}};
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    for (const auto& row : r.rows)
      std::printf("%-10s %9zu chunks: BM25 p50 %.2f ms p99 %.2f ms (CPU p50 %.2f ms; exhaustive p50 %.2f ms), "
                  "%zu/%zu identical, ingest %.0f chunks/s\n",
                  row.corpus.c_str(), row.chunks, row.bm25.p50_ms, row.bm25.p99_ms, row.bm25_cpu.p50_ms,
                  row.exhaustive.p50_ms, row.identical, row.compared, row.ingest_chunks_per_s);
    for (const auto& row : r.rows) {
      if (o->dim == 0 || row.corpus != "synthetic") continue;
      for (const auto& p : row.sweep)
        std::printf("%-10s %9zu chunks: dense ef_search %zu p50 %.2f ms p99 %.2f ms, recall@%zu %.4f\n", "",
                    row.chunks, p.ef_search, p.dense.p50_ms, p.dense.p99_ms, o->k, p.recall_at_k);
      std::printf("%-10s %9zu chunks: hybrid p50 %.2f ms, graph %.1f MiB\n", "", row.chunks, row.hybrid.p50_ms,
                  static_cast<double>(row.graph_bytes) / (1 << 20));
    }
  });
}

}  // namespace

EDGERAG_COMMAND("bench gen", setup_gen);
EDGERAG_COMMAND("bench embed", setup_embed);
EDGERAG_COMMAND("bench retrieval", setup_retrieval);
}  // namespace edgerag::cli
