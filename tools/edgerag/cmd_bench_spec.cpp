// edgerag bench spec: decode speed with and without speculative decoding on a
// JSONL file of prompts, per prompt and in total, as JSON.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "eval/bench_spec.h"
#include "spec_flag.h"
#include "util/error.h"

namespace edgerag::cli {
namespace {

nlohmann::json row_json(const SpecBenchRow& r) {
  return {{"n_prompt", r.n_prompt},           {"n_gen", r.n_gen},
          {"base_tok_s", r.base_tok_s},       {"spec_tok_s", r.spec_tok_s},
          {"speedup", r.speedup},             {"drafted", r.drafted},
          {"accepted", r.accepted},           {"verify_steps", r.verify_steps},
          {"acceptance_rate", r.acceptance_rate}, {"mean_accepted", r.mean_accepted},
          {"identical", r.identical}};
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("spec", "Greedy decode speed with and without speculative decoding");
  auto o = std::make_shared<SpecBenchOptions>();
  auto json = std::make_shared<bool>(false);
  auto draft = std::make_shared<std::string>();
  cmd->add_option("-m,--model", o->model, "Target decoder model file or name")->required();
  auto spec = add_speculative_options(cmd);
  add_device_options(cmd);
  cmd->add_option("--draft", *draft, "Draft model: short for --speculative draft:MODEL");
  cmd->add_option("--prompts", o->prompts_file, "JSONL file, one {\"prompt\": ...} per line");
  auto cost = std::make_shared<VerifyCostOptions>();
  auto verify_cost = std::make_shared<bool>(false);
  cmd->add_flag("--verify-cost", *verify_cost,
                "Instead: time one forward with 1 + k tokens (k = 0..--k-max drafts) at context --ctx");
  cmd->add_option("--ctx", cost->n_ctx, "Context of the verification-cost runs")->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--k-max", cost->k_max, "Largest draft count of the verification-cost runs")
      ->capture_default_str()->check(CLI::Range(0, 32));
  cmd->add_option("--reps", cost->reps, "Repetitions of the verification-cost runs (medians)")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("-n,--gen-tokens", o->n_gen, "Generated tokens per prompt")->capture_default_str()
      ->check(CLI::Range(2, 1 << 16));
  cmd->add_option("--threads", o->n_threads, "Worker threads (default: all)")->check(CLI::Range(0, 1024));
  cmd->add_option("--pairs", o->pairs, "Plain / speculative run pairs per prompt, alternating (median decode times)")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, json, spec, draft, cost, verify_cost] {
    o->model = resolve_model_flag(o->model);
    if (*verify_cost) {
      cost->model = o->model;
      cost->n_threads = o->n_threads;
      nlohmann::json j{{"model", o->model}, {"n_ctx", cost->n_ctx}, {"threads", o->n_threads}};
      for (const auto& r : bench_verify_cost(*cost)) {
        j["verify"].push_back({{"k", r.k}, {"ms", r.ms}, {"ratio", r.ratio}});
        if (!*json) std::printf("k = %d: %.2f ms, x%.3f of a decode step\n", r.k, r.ms, r.ratio);
      }
      if (*json) std::printf("%s\n", j.dump().c_str());
      return;
    }
    EDGERAG_CHECK(!o->prompts_file.empty(), "bench spec: --prompts FILE (or --verify-cost) is required");
    if (!draft->empty()) spec->mode = "draft:" + *draft;
    o->spec = spec->options();
    const SpecBenchResult r = bench_spec(*o);
    nlohmann::json j{{"model", o->model},           {"speculative", speculative_name(o->spec)},
                     {"draft_max", o->spec.draft_max}, {"pairs", o->pairs},
                     {"total", row_json(r.total)}};
    for (const auto& p : r.prompts) j["prompts"].push_back(row_json(p));
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    for (size_t i = 0; i < r.prompts.size(); ++i)
      std::printf("prompt %zu: %.1f -> %.1f tok/s (x%.2f), acceptance %.2f, identical %s\n", i,
                  r.prompts[i].base_tok_s, r.prompts[i].spec_tok_s, r.prompts[i].speedup,
                  r.prompts[i].acceptance_rate, r.prompts[i].identical ? "yes" : "NO");
    std::printf("total: %.1f -> %.1f tok/s (x%.2f), acceptance %.2f, %.2f accepted per step, identical %s\n",
                r.total.base_tok_s, r.total.spec_tok_s, r.total.speedup, r.total.acceptance_rate,
                r.total.mean_accepted, r.total.identical ? "yes" : "NO");
  });
}

}  // namespace
EDGERAG_COMMAND("bench spec", setup);
}  // namespace edgerag::cli
