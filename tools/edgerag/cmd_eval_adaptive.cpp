// edgerag eval adaptive: every query with each adaptive stage off and on, and
// per stage its quality gain, extra latency and energy, and the threshold
// `auto` would use on this data (eval/adaptive_eval.h).
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eval/adaptive_eval.h"

namespace edgerag::cli {
namespace {

struct Args {
  eval::AdaptiveEvalOptions o;
  std::string config;
  bool json = false;
};

void run(Args& a) {
  if (!a.config.empty()) a.o.config = rag::load_answer_config(a.config);
  a.o.embed = resolve_model_flag(a.o.embed);
  if (!a.o.llm.empty()) a.o.llm = resolve_model_flag(a.o.llm);
  if (!a.o.small_llm.empty()) a.o.small_llm = resolve_model_flag(a.o.small_llm);
  const nlohmann::json j = eval::run_adaptive_eval(a.o);
  if (a.json) {
    std::printf("%s\n", j.dump(1).c_str());
    return;
  }
  std::printf("%s: %zu queries, %zu documents, k = %d, energy: %s\n", j["dataset"].get<std::string>().c_str(),
              j["queries"].get<size_t>(), j["corpus_documents"].get<size_t>(), a.o.k,
              j["energy_method"].get<std::string>().c_str());
  for (const auto& [stage, s] : j["stages"].items()) std::printf("  %-8s %s\n", stage.c_str(), s.dump().c_str());
}

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("adaptive", "Each adaptive stage off and on: quality gain, cost, break-even threshold");
  cmd->add_option("--beir", a->o.beir_dir, "BEIR data set folder (corpus.jsonl, queries.jsonl, qrels/)")->required();
  cmd->add_option("--split", a->o.split, "qrels split")->capture_default_str();
  cmd->add_option("-m,--model", a->o.llm, "LLM (HyDE passages, answers)");
  cmd->add_option("--small", a->o.small_llm, "Small LLM for routing");
  cmd->add_option("--embed", a->o.embed, "Embedding model")->required();
  cmd->add_option("--limit", a->o.limit, "Queries (0 = all)");
  cmd->add_option("--corpus-limit", a->o.corpus_limit, "Judged documents of the queries run plus this many (0 = all)");
  cmd->add_option("-k", a->o.k, "Chunks retrieved and supplied")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--answer-tokens", a->o.answer_tokens, "Answer tokens (route and cache stages)")->capture_default_str();
  cmd->add_option("--config", a->config, "TOML answer settings ([adaptive] thresholds and the rest)");
  cmd->add_option("-t,--threads", a->o.threads, "Threads for the LLMs (0 = all cores)");
  cmd->add_option("--tdp-watts", a->o.tdp_watts, "Package TDP for the energy estimate when RAPL is unreadable");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] { run(*a); });
}

}  // namespace
EDGERAG_COMMAND("eval adaptive", setup);
}  // namespace edgerag::cli
