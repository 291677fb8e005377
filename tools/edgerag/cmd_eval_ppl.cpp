// edgerag eval ppl: perplexity of a model on a text file (sliding or chunked protocol).
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "eval/ppl.h"
#include "kv_type_flag.h"
#include "util/error.h"

namespace edgerag::cli {
namespace {

struct Flags {
  std::string model, text;
  PplOptions opt;
  int threads = 0;
  bool json = false;
};

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("ppl", "Perplexity of a model on a text file");
  auto f = std::make_shared<Flags>();
  cmd->add_option("-m,--model", f->model, "Model file or name")->required();
  cmd->add_option("--text", f->text, "Text file")->required();
  cmd->add_option("--ctx", f->opt.ctx, "Tokens per window / chunk")->default_val(128);
  cmd->add_option("--stride", f->opt.stride, "Sliding window step (default ctx/2)");
  cmd->add_option("--protocol", f->opt.protocol, "sliding | chunked (llama-perplexity)")->default_val("sliding");
  cmd->add_option("--max-tokens", f->opt.max_tokens, "Score only the first N tokens of the text");
  add_kv_type_option(cmd, &f->opt.kv_type);
  add_device_options(cmd);
  cmd->add_option("-t,--threads", f->threads, "Threads (default: all cores)");
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f] {
    std::ifstream in(f->text, std::ios::binary);
    if (!in) fail("cannot read text file {}", f->text);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string path = resolve_model_flag(f->model);
    auto model = Model::load(path);
    ThreadPool pool(f->threads > 0 ? f->threads : default_thread_count());
    const PplResult r = perplexity(*model, ss.str(), f->opt, &pool);
    if (f->json) {
      nlohmann::json j{{"model", path}, {"text", f->text}, {"protocol", r.protocol}, {"ctx", r.ctx},
                       {"stride", r.stride}, {"n_tokens", r.n_tokens}, {"tokens_scored", r.tokens_scored},
                       {"windows", r.n_windows}, {"nll", r.nll}, {"ppl", r.ppl}, {"ppl_stderr", r.ppl_stderr},
                       {"kv_type", f->opt.kv_type.name()}, {"seconds", r.seconds},
                       {"tokens_per_second", r.tokens_per_second}};
      std::printf("%s\n", j.dump(1).c_str());
      return;
    }
    fmt::print("PPL = {:.4f} +/- {:.5f} ({} protocol, ctx {}{}, {} tokens scored of {}, {:.2f} s)\n", r.ppl,
               r.ppl_stderr, r.protocol, r.ctx, r.protocol == "sliding" ? fmt::format(", stride {}", r.stride) : "",
               r.tokens_scored, r.n_tokens, r.seconds);
  });
}

}  // namespace
EDGERAG_COMMAND("eval ppl", setup);
}  // namespace edgerag::cli
