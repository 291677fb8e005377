// edgerag bench rag-ttft: time to first token of RAG prompts with a chunk KV
// reuse mode against a full prefill of the same prompts, as JSON.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eval/bench_rag_ttft.h"
#include "kv_reuse_flag.h"
#include "kv_type_flag.h"

namespace edgerag::cli {
namespace {

nlohmann::json reuse_json(const ChunkPrefillStats& s) {
  return {{"chunk_hits", s.chunk_hits},
          {"chunk_misses", s.chunk_misses},
          {"reused_tokens", s.reused_tokens},
          {"recomputed_tokens", s.recomputed_tokens},
          {"computed_tokens", s.computed_tokens},
          {"store_ms", s.store_ms},
          {"place_ms", s.place_ms},
          {"select_ms", s.select_ms},
          {"recompute_ms", s.recompute_ms}};
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("rag-ttft", "Time to first token of RAG prompts with chunk KV reuse");
  auto o = std::make_shared<RagTtftOptions>();
  auto flags = std::make_shared<KvReuseFlags>();
  auto json = std::make_shared<bool>(false);
  auto cold = std::make_shared<bool>(false);
  cmd->add_option("--index", o->index_dir, "Index directory")->required();
  cmd->add_option("-m,--model", o->model, "Decoder model file or name")->required();
  cmd->add_option("--queries", o->queries_file, "BEIR queries.jsonl ({\"_id\", \"text\"} per line)")->required();
  add_kv_reuse_options(cmd, flags.get());
  add_kv_type_option(cmd, &o->kv_type);
  cmd->add_option("--chunks", o->max_chunks, "Chunks per prompt")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--limit", o->limit, "First N queries (0: all)")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--answer-tokens", o->answer_tokens, "Greedy tokens compared with the full prefill's")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_flag("--cold", *cold, "Chunk modes: no first pass filling the store");
  cmd->add_option("--threads", o->n_threads, "Worker threads (default: all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, flags, json, cold] {
    o->model = resolve_model_flag(o->model);
    o->reuse = flags->reuse;
    o->store = flags->store.options();
    o->warm = !*cold;
    const RagTtftResult r = bench_rag_ttft(*o);
    nlohmann::json total{{"queries", r.queries.size()},
                         {"ttft_ms_mean", r.ttft_ms_mean},
                         {"ttft_cold_ms_mean", r.ttft_cold_ms_mean},
                         {"full_ttft_ms_mean", r.full_ttft_ms_mean},
                         {"speedup", r.ttft_ms_mean > 0 ? r.full_ttft_ms_mean / r.ttft_ms_mean : 0.0},
                         {"prompt_tokens", r.prompt_tokens},
                         {"identical_rate", r.identical_rate},
                         {"max_logit_diff", r.max_logit_diff},
                         {"kl_mean", r.kl_mean}};
    total.update(reuse_json(r.reuse));
    nlohmann::json j{{"model", o->model},
                     {"kv_reuse", kv_reuse_name(o->reuse.mode)},
                     {"recompute_share", o->reuse.recompute_share},
                     {"recompute_first", o->reuse.recompute_first},
                     {"kv_type", o->kv_type.name()},
                     {"threads", o->n_threads},
                     {"total", total}};
    for (const auto& q : r.queries) {
      nlohmann::json row{{"_id", q.id},
                         {"ttft_ms", q.ttft_ms},
                         {"ttft_cold_ms", q.ttft_cold_ms},
                         {"full_ttft_ms", q.full_ttft_ms},
                         {"prompt_tokens", q.prompt_tokens},
                         {"chunks", q.chunks},
                         {"max_logit_diff", q.max_logit_diff},
                         {"kl", q.kl},
                         {"identical", q.identical}};
      row.update(reuse_json(q.reuse));
      j["queries"].push_back(std::move(row));
    }
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("%zu queries, %s: TTFT %.1f ms (full prefill %.1f ms, x%.2f; cold %.1f ms), identical %.0f%%, "
                "max |logit diff| %.3g, KL %.3g, reused %lld / recomputed %lld tokens\n",
                r.queries.size(), kv_reuse_name(o->reuse.mode), r.ttft_ms_mean, r.full_ttft_ms_mean,
                total["speedup"].get<double>(), r.ttft_cold_ms_mean, 100 * r.identical_rate, r.max_logit_diff,
                r.kl_mean, static_cast<long long>(r.reuse.reused_tokens),
                static_cast<long long>(r.reuse.recomputed_tokens));
  });
}

}  // namespace
EDGERAG_COMMAND("bench rag-ttft", setup);
}  // namespace edgerag::cli
