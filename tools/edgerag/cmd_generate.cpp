// edgerag generate: text generation with a local GGUF decoder, streamed to
// stdout, or one JSON object with tokens, text and timings (--json).
#include <cstdio>

#include "command.h"
#include "device_flag.h"
#include "kv_type_flag.h"
#include "runtime/generate_command.h"
#include "spec_flag.h"
#include "util/error.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt with a GGUF decoder model");
  auto o = std::make_shared<GenerateOptions>();
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto& s = o->gen.sampling;
  cmd->add_option("-m,--model", *model, "Model file or name in the models directory")->required();
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", o->gen.max_tokens, "Tokens to generate")->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--temp", s.temperature, "Temperature (0 = greedy)")->capture_default_str()
      ->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-k", s.top_k, "Top-k (0 = off)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", s.top_p, "Top-p (1 = off)")->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f).description("in (0, 1]"));
  cmd->add_option("--min-p", s.min_p, "Min-p (0 = off)")->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "Repetition penalty (1 = off)")->capture_default_str()
      ->check(CLI::Range(0.01f, 100.0f));
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "History the penalty looks at")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", s.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("-c,--ctx", o->n_ctx, "Context size in tokens (0 = model's, at most 4096)")
      ->check(CLI::Range(0, 1 << 24));
  add_kv_type_option(cmd, &o->kv_type);
  add_device_options(cmd);
  cmd->add_flag("--chat", o->chat, "Wrap the prompt in the model's chat template");
  cmd->add_option("--system", o->system, "System message (with --chat)");
  cmd->add_option("--stop", o->gen.stop, "Stop string (repeatable); removed from the output");
  auto spec = add_speculative_options(cmd);
  cmd->add_flag("--json", *json, "Print one JSON object instead of streaming text");
  cmd->callback([o, model, json, spec] {
    EDGERAG_CHECK(o->gen.sampling.top_p > 0.0f, "--top-p must be > 0");
    o->spec = spec->options();
    o->model_path = resolve_model_flag(*model);
    if (*json) {
      std::printf("%s\n", generation_to_json(run_generate(*o)).dump().c_str());
      return;
    }
    run_generate(*o, [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    });
    std::printf("\n");
  });
}

}  // namespace
EDGERAG_COMMAND("generate", setup);
}  // namespace edgerag::cli
