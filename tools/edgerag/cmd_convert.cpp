// edgerag convert: a Hugging Face checkpoint directory (safetensors +
// config.json + tokenizer.json; unquantized, AWQ or GPTQ) written as one GGUF
// file, so later loads map it directly instead of converting again.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "convert/hf_checkpoint.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Convert a Hugging Face checkpoint directory (AWQ, GPTQ, F16) to GGUF");
  struct Args {
    std::string dir, out;
    int threads = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->dir, "Directory with config.json, *.safetensors and tokenizer.json")->required();
  cmd->add_option("-o,--output", a->out, "Output GGUF file")->required();
  cmd->add_option("--threads", a->threads, "Worker threads (default: all)");
  cmd->add_flag("--json", a->json, "Print a JSON summary");
  cmd->callback([a] {
    Timer timer;
    ThreadPool pool(a->threads > 0 ? a->threads : default_thread_count());
    GgufWriter w;
    const HfConvertSummary s = convert_hf_checkpoint(a->dir, w, &pool);
    w.write(a->out);
    nlohmann::json j{{"output", a->out},         {"arch", s.arch},
                     {"quantization", s.quantization}, {"bits", s.bits},
                     {"group_size", s.group_size}, {"tensor_types", s.type_counts},
                     {"seconds", timer.seconds()}};
    if (a->json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("%s: %s, %s", a->out.c_str(), s.arch.c_str(), s.quantization.c_str());
    if (s.quantization != "none") std::printf(" %d-bit group %d", s.bits, s.group_size);
    std::printf(", tensors %s, %.1f s\n", j["tensor_types"].dump().c_str(), timer.seconds());
  });
}

}  // namespace
EDGERAG_COMMAND("convert", setup);
}  // namespace edgerag::cli
