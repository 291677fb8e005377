// edgerag synth: a model file with deterministic random weights in a preset's shape.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "synth/synth.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("synth", "Write a synthetic (random-weight) model in a preset's shape");
  struct Args {
    std::string arch, preset, type = "f32", out, vocab_dir = std::string(EDGERAG_DEFAULT_SHARED_DIR) + "/golden/tokenizer";
    uint64_t seed = 1;
    int threads = 0;
    bool json = false, list = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--arch", a->arch, "llama | qwen2 | qwen3 | bert (default: the preset's)");
  cmd->add_option("--preset", a->preset, "Shape preset (--list shows them)");
  cmd->add_option("--type", a->type, "f32 | f16 | bf16 | q8_0 | q4_0 | q4_k | q4_k_m | q5_k | q6_k");
  cmd->add_option("-o,--output", a->out, "Output GGUF file");
  cmd->add_option("--seed", a->seed, "Random seed");
  cmd->add_option("--threads", a->threads, "Worker threads (default: all)");
  cmd->add_option("--vocab-dir", a->vocab_dir, "Folder with the ggml-vocab-*.gguf tokenizer fixtures");
  cmd->add_flag("--json", a->json, "Print a JSON summary");
  cmd->add_flag("--list", a->list, "List the presets");
  cmd->callback([a] {
    if (a->list) {
      for (const auto& p : synth_presets())
        std::printf("%-20s %-6s vocab %-7lld embd %-5lld layers %-3lld heads %lld/%lld ffn %lld\n", p.name.c_str(),
                    p.arch.c_str(), static_cast<long long>(p.n_vocab), static_cast<long long>(p.n_embd),
                    static_cast<long long>(p.n_layer), static_cast<long long>(p.n_head),
                    static_cast<long long>(p.n_head_kv), static_cast<long long>(p.n_ff));
      return;
    }
    EDGERAG_CHECK(!a->preset.empty() && !a->out.empty(), "synth: --preset and -o are required");
    SynthOptions o;
    o.preset = a->preset;
    o.arch = a->arch;
    o.q4_k_m = a->type == "q4_k_m" || a->type == "Q4_K_M";
    EDGERAG_CHECK(dtype_from_name(o.q4_k_m ? "q4_k" : a->type, &o.type), "synth: unknown type '{}'", a->type);
    o.seed = a->seed;
    o.n_threads = a->threads;
    o.vocab_dir = a->vocab_dir;
    Timer timer;
    const SynthReport r = synth_model(o, a->out);
    nlohmann::json j{{"output", a->out}, {"preset", a->preset}, {"type", a->type}, {"n_params", r.n_params},
                     {"tensor_bytes", r.file_bytes}, {"seconds", timer.seconds()}};
    for (const auto& [t, n] : r.type_counts) j["tensor_types"][t] = n;
    if (a->json) std::printf("%s\n", j.dump().c_str());
    else
      std::printf("%s: %lld parameters, %.1f MB of tensors, %.1f s\n", a->out.c_str(),
                  static_cast<long long>(r.n_params), r.file_bytes / 1e6, timer.seconds());
  });
}

}  // namespace
EDGERAG_COMMAND("synth", setup);
}  // namespace edgerag::cli
