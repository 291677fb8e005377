// edgerag bench gen / bench embed: speed and memory figures as JSON.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eval/bench.h"
#include "kv_type_flag.h"

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
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, json] {
    o->model = resolve_model_flag(o->model);
    const GenBenchResult r = bench_gen(*o);
    const nlohmann::json j{{"model", r.model}, {"threads", r.n_threads}, {"n_prompt", r.n_prompt},
                           {"n_gen", r.n_gen}, {"reps", r.reps}, {"prefill_tok_s", r.prefill_tok_s},
                           {"decode_tok_s", r.decode_tok_s}, {"ttft_ms", r.ttft_ms}, {"peak_rss_mb", r.peak_rss_mb},
                           {"bytes_per_token", r.bytes_per_token}, {"bandwidth_gb_s", r.bandwidth_gb_s},
                           {"decode_bound_fraction", r.decode_bound_fraction}, {"load_ms", r.load_ms},
                           {"cpu_utilization", r.cpu_utilization}, {"kv_type", r.kv_type},
                           {"kv_bytes_per_token", r.kv_bytes_per_token}};
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("prefill %.1f tok/s, decode %.2f tok/s (%.0f%% of the %.1f GB/s bound), ttft %.0f ms, peak RSS %.0f MB\n",
                r.prefill_tok_s, r.decode_tok_s, 100 * r.decode_bound_fraction, r.bandwidth_gb_s, r.ttft_ms,
                r.peak_rss_mb);
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
  cmd->callback([o, json] {
    o->model = resolve_model_flag(o->model);
    const EmbedBenchResult r = bench_embed(*o);
    nlohmann::json j{{"model", r.model}, {"threads", r.n_threads}, {"n_texts", r.n_texts}, {"reps", r.reps},
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

}  // namespace
EDGERAG_COMMAND("bench gen", setup_gen);
EDGERAG_COMMAND("bench embed", setup_embed);
}  // namespace edgerag::cli
