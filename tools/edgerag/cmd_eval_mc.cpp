// edgerag eval mc: multiple-choice log-likelihood (acc, acc_norm) and GSM8K-style
// exact match on the user's JSONL files, scored as lm-evaluation-harness does.
#include <cstdio>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "eval/mc.h"
#include "kv_type_flag.h"

namespace edgerag::cli {
namespace {

struct Flags {
  std::string model, data, fewshot;
  McOptions opt;
  size_t n = 0;
  int threads = 0;
  bool json = false;
};

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("mc", "Multiple-choice log-likelihood and GSM8K-style exact match");
  auto f = std::make_shared<Flags>();
  cmd->add_option("-m,--model", f->model, "Model file or name")->required();
  cmd->add_option("--data", f->data, "JSONL: question/ctx, choices/endings, answer index (or a GSM8K answer)")
      ->required();
  cmd->add_option("-n,--n", f->n, "Items (0 = all)")->default_val(0);
  cmd->add_option("--num-fewshot", f->opt.num_fewshot, "Examples prepended to each context")->default_val(0);
  cmd->add_option("--fewshot", f->fewshot,
                  "JSONL of the examples (default: the first --num-fewshot items of --data, then not scored)");
  cmd->add_option("--max-new-tokens", f->opt.max_new_tokens, "Generation items: answer length limit")
      ->default_val(128);
  cmd->add_option("-t,--threads", f->threads, "Threads (default: all cores)");
  add_kv_type_option(cmd, &f->opt.kv_type);
  add_device_options(cmd);
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f] {
    const std::string path = resolve_model_flag(f->model);
    auto model = Model::load(path);
    ThreadPool pool(f->threads > 0 ? f->threads : default_thread_count());
    std::vector<McItem> items = load_mc(f->data);
    std::vector<McItem> shots;
    if (!f->fewshot.empty()) {
      shots = load_mc(f->fewshot);
    } else {
      const size_t k = std::min(items.size(), static_cast<size_t>(std::max(0, f->opt.num_fewshot)));
      shots.assign(items.begin(), items.begin() + k);
      items.erase(items.begin(), items.begin() + k);
    }
    if (f->n && items.size() > f->n) items.resize(f->n);
    const McResult r = eval_mc(*model, items, shots, f->opt, &pool);
    if (f->json) {
      const nlohmann::json j{{"model", path},        {"data", f->data},           {"num_fewshot", f->opt.num_fewshot},
                             {"n_mc", r.n_mc},       {"n_gen", r.n_gen},          {"skipped", r.skipped},
                             {"acc", r.acc},         {"acc_norm", r.acc_norm},    {"em_strict", r.em_strict},
                             {"em_flexible", r.em_flexible}, {"seconds", r.seconds}};
      return (void)std::printf("%s\n", j.dump(1).c_str());
    }
    if (r.n_mc) fmt::print("multiple choice: acc {:.4f} acc_norm {:.4f} ({} items)\n", r.acc, r.acc_norm, r.n_mc);
    if (r.n_gen)
      fmt::print("generation: exact match strict {:.4f} flexible {:.4f} ({} items)\n", r.em_strict, r.em_flexible,
                 r.n_gen);
    if (r.skipped) fmt::print("{} items longer than the model's context skipped\n", r.skipped);
  });
}

}  // namespace
EDGERAG_COMMAND("eval mc", setup);
}  // namespace edgerag::cli
