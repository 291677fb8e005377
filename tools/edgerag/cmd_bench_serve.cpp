// edgerag bench serve: flags for the load generator (loadgen/loadgen.h) and
// its report as a table or JSON.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "kv_type_flag.h"
#include "loadgen/loadgen.h"
#include "spec_flag.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serving throughput and TTFT under N concurrent streaming clients");
  auto f = std::make_shared<ServeBenchOptions>();
  auto json_out = std::make_shared<bool>(false);
  cmd->add_option("-m,--model", f->model, "LLM (GGUF name or path)")->required();
  cmd->add_option("--server", f->server,
                  "HOST:PORT of a running server (e.g. a front end over --llm-backend replicas) to drive instead of "
                  "starting one; -m then only names the model")->capture_default_str();
  cmd->add_option("--clients", f->clients, "Concurrency levels")->delimiter(',')->capture_default_str();
  cmd->add_option("--requests", f->requests, "Requests per client")->capture_default_str();
  cmd->add_option("--max-tokens", f->max_tokens, "Tokens generated per request")->capture_default_str();
  cmd->add_option("--system-words", f->system_words, "Words of the shared system prompt (prefix-cache run)")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "Compute threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--kv-tokens", f->kv_tokens, "KV pool (tokens)")->capture_default_str();
  add_kv_type_option(cmd, &f->kv_type);
  add_device_options(cmd);
  cmd->add_option("--rag", f->rag_queries, "Also time this many RAG queries, sequential vs concurrent (0 = skip)")
      ->capture_default_str();
  auto spec = add_speculative_options(cmd);
  cmd->add_flag("--json", *json_out, "Print one JSON object");
  cmd->callback([f, json_out, spec] {
    if (f->server.empty()) f->model = resolve_model_flag(f->model);
    f->spec = spec->options();
    const nlohmann::json report = run_serve_bench(*f);
    if (*json_out) {
      std::printf("%s\n", report.dump(1).c_str());
      return;
    }
    std::printf("%s, %d tokens per request\n", f->model.c_str(), f->max_tokens);
    std::printf("clients  requests  tok/s    TTFT mean  p50      p90      errors\n");
    for (const auto& r : report["concurrency"])
      std::printf("%-8d %-9d %-8.1f %-10.1f %-8.1f %-8.1f %d\n", r["clients"].get<int>(), r["requests"].get<int>(),
                  r["tokens_per_s"].get<double>(), r["ttft_ms_mean"].get<double>(), r["ttft_ms_p50"].get<double>(),
                  r["ttft_ms_p90"].get<double>(), r["errors"].get<int>());
    for (const char* k : {"off", "on", "shared"}) {
      if (k == std::string("shared") ? !report.contains("shared_prefix") : !report.contains("prefix_cache")) continue;
      const auto& r = k == std::string("shared") ? report["shared_prefix"] : report["prefix_cache"][k];
      std::printf("prefix cache %-3s: TTFT mean %.1f ms, p50 %.1f ms, cached %llu of %llu prompt tokens, %.1f tok/s\n", k,
                  r["ttft_ms_mean"].get<double>(), r["ttft_ms_p50"].get<double>(),
                  static_cast<unsigned long long>(r["cached_prompt_tokens"].get<uint64_t>()),
                  static_cast<unsigned long long>(r["prompt_tokens"].get<uint64_t>()), r["tokens_per_s"].get<double>());
    }
    if (report.contains("rag_query")) {
      const auto& r = report["rag_query"];
      std::printf("rag query x%d: sequential %.2f q/s, concurrent %.2f q/s, %d identical answers\n",
                  r["queries"].get<int>(), r["sequential"]["queries_per_s"].get<double>(),
                  r["concurrent"]["queries_per_s"].get<double>(), r["identical_answers"].get<int>());
    }
  });
}

}  // namespace
EDGERAG_COMMAND("bench serve", setup);
}  // namespace edgerag::cli
