// edgerag bench chunk-quality: greedy agreement and continuation perplexity of
// chunk KV reuse against a full prefill, per recompute share, as JSON.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eval/bench_chunk_quality.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("chunk-quality", "Quality of chunk KV reuse against a full prefill, per recompute share");
  auto o = std::make_shared<ChunkQualityOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("-m,--model", o->model, "Decoder model file or name")->required();
  cmd->add_option("--shares", o->shares, "Recompute shares of chunks mode")->delimiter(',')->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--recompute-first", o->recompute_first, "Leading tokens of each placed chunk recomputed")
      ->capture_default_str()->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--samples", o->samples, "Prompts")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--chunks", o->chunks, "Passages per prompt")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--passage-tokens", o->passage_tokens, "Sampled tokens per passage")
      ->capture_default_str()->check(CLI::Range(4, 4096));
  cmd->add_option("--threads", o->n_threads, "Worker threads (default: all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, json] {
    o->model = resolve_model_flag(o->model);
    nlohmann::json j{{"model", o->model}, {"samples", o->samples}, {"chunks", o->chunks},
                     {"passage_tokens", o->passage_tokens}, {"recompute_first", o->recompute_first}};
    for (const auto& r : bench_chunk_quality(*o)) {
      j["rows"].push_back({{"mode", r.mode}, {"share", r.share}, {"agreement", r.agreement},
                           {"first_identical", r.first_identical}, {"ppl", r.ppl}, {"ppl_full", r.ppl_full},
                           {"ppl_ratio", r.ppl_ratio}, {"recomputed_share", r.recomputed_share}});
      if (!*json)
        std::printf("%-12s share %.2f: agreement %.4f, first token %.3f, ppl %.4f (full %.4f, x%.4f), recomputed %.3f\n",
                    r.mode.c_str(), r.share, r.agreement, r.first_identical, r.ppl, r.ppl_full, r.ppl_ratio,
                    r.recomputed_share);
    }
    if (*json) std::printf("%s\n", j.dump().c_str());
  });
}

}  // namespace
EDGERAG_COMMAND("bench chunk-quality", setup);
}  // namespace edgerag::cli
