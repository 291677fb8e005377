// edgerag eval qa: EM/F1 on SQuAD / NQ-open / RGB files, closed-book or with the
// gold passage padded with distractors to several context lengths, or through the
// answer engine over an index of the file's passages (--mode rag: EM/F1 and the
// calibration of the answer confidence).
#include <cstdio>
#include <sstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "eval/qa.h"
#include "eval/qa_rag.h"
#include "kv_type_flag.h"
#include "util/error.h"

namespace edgerag::cli {
namespace {

struct Flags {
  std::string model, data, lengths, embed, small;
  QaOptions opt;
  QaRagOptions rag;
  size_t n = 50;
  int threads = 0;
  bool json = false;
};

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("qa", "Question answering EM/F1 (SQuAD normalization)");
  auto f = std::make_shared<Flags>();
  cmd->add_option("-m,--model", f->model, "Model file or name (--mode rag: the answer engine's LLM; none = extractive)");
  cmd->add_option("--data", f->data, "SQuAD JSON, NQ-open JSONL or RGB JSONL")->required();
  cmd->add_option("--mode", f->opt.mode, "closed | gold | rag (the answer engine over an index of the file's passages)")
      ->default_val("gold");
  cmd->add_option("--embed", f->embed, "rag mode: embedder for hybrid retrieval (default: BM25)");
  cmd->add_option("--small", f->small, "rag mode: a small LLM for the routing stage (with --stages)");
  cmd->add_flag("--stages", f->rag.stages,
                "rag mode: answer again with each adaptive stage on (HyDE, routing, context trimming) and report "
                "EM/F1 off and on");
  cmd->add_option("--bins", f->rag.bins, "rag mode: reliability bins of the answer confidence")->default_val(10);
  cmd->add_option("--max-chunks", f->rag.max_chunks, "rag mode: chunks supplied to the answer")->default_val(5);
  cmd->add_option("-n,--n", f->n, "Questions")->default_val(50);
  cmd->add_option("--context-tokens", f->lengths, "Pad to these context lengths, e.g. 512,1024,2048,4096");
  cmd->add_option("--gold-position", f->opt.gold_position, "Relative position of the gold passage (0..1)")
      ->default_val(0.5);
  cmd->add_option("--max-new-tokens", f->opt.max_new_tokens, "Answer length limit")->default_val(16);
  cmd->add_option("-t,--threads", f->threads, "Threads (default: all cores)");
  add_kv_type_option(cmd, &f->opt.kv_type);
  add_device_options(cmd);
  cmd->add_flag("--attention", f->opt.attention, "Gold passage attention share, rank and drift (gold mode)");
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f] {
    std::stringstream ss(f->lengths);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) f->opt.context_tokens.push_back(std::stoi(x));
    if (f->opt.mode == "rag") {
      f->rag.llm = f->model.empty() ? "" : resolve_model_flag(f->model);
      f->rag.embed = f->embed.empty() ? "" : resolve_model_flag(f->embed);
      f->rag.llm_small = f->small.empty() ? "" : resolve_model_flag(f->small);
      f->rag.threads = f->threads;
      f->rag.max_answer_tokens = f->opt.max_new_tokens;
      const QaRagResult r = eval_qa_rag(load_qa(f->data, f->n), f->rag);
      nlohmann::json j = to_json(r);
      j["model"] = f->rag.llm.empty() ? "extractive" : f->rag.llm, j["data"] = f->data, j["mode"] = "rag";
      if (f->json) return (void)std::printf("%s\n", j.dump(1).c_str());
      fmt::print("rag: EM {:.3f} F1 {:.3f}, answer contains a gold answer {:.3f} ({} questions)\n{}", r.em, r.f1,
                 r.accuracy, r.n, reliability_text(r.calibration));
      if (!r.stages.empty()) fmt::print("\n{}", stages_text(r.stages));
      return;
    }
    if (f->model.empty()) fail("eval qa --mode {} needs -m MODEL", f->opt.mode);
    const std::string path = resolve_model_flag(f->model);
    auto model = Model::load(path);
    ThreadPool pool(f->threads > 0 ? f->threads : default_thread_count());
    const QaResult r = eval_qa(*model, load_qa(f->data, f->n), f->opt, &pool);
    nlohmann::json j{{"model", path}, {"data", f->data}, {"mode", r.mode}, {"kv_type", f->opt.kv_type.name()}, {"em_slope_per_1k", r.em_slope_per_1k},
                     {"f1_slope_per_1k", r.f1_slope_per_1k}, {"seconds", r.seconds}};
    for (const auto& [name, d] : {std::pair{"em_degradation", &r.em_degradation}, {"f1_degradation", &r.f1_degradation}})
      j[name] = {{"n", d->n},   {"slope_per_1k", d->slope_per_1k}, {"intercept", d->intercept}, {"r2", d->r2},
                 {"t", d->t},   {"p_value", d->p_value},           {"cliff_tokens", d->cliff_tokens}};
    for (const auto& s : r.scores)
      j["scores"].push_back({{"context_tokens", s.context_tokens}, {"n", s.n}, {"skipped", s.skipped}, {"em", s.em},
                             {"f1", s.f1}, {"gold_attention_share", s.gold_attention_share},
                             {"gold_rank", s.gold_rank}, {"attention_drift", s.attention_drift},
                             {"share_f1_pearson", s.share_f1_pearson}, {"share_f1_spearman", s.share_f1_spearman},
                             {"drift_f1_pearson", s.drift_f1_pearson}, {"drift_f1_spearman", s.drift_f1_spearman},
                             {"drift_correct", s.drift_correct}, {"drift_wrong", s.drift_wrong},
                             {"n_correct", s.n_correct}});
    if (f->json) return (void)std::printf("%s\n", j.dump(1).c_str());
    for (const auto& s : r.scores)
      fmt::print("context {:>6}: EM {:.3f} F1 {:.3f} ({} answered, {} too long)\n",
                 s.context_tokens ? std::to_string(s.context_tokens) : "gold", s.em, s.f1, s.n, s.skipped);
    if (f->opt.attention)
      for (const auto& s : r.scores)
        fmt::print("context {:>6}: gold attention share {:.4f}, rank {:.2f}, drift {:+.4f}\n",
                   s.context_tokens ? std::to_string(s.context_tokens) : "gold", s.gold_attention_share, s.gold_rank,
                   s.attention_drift);
    if (r.scores.size() > 1) {
      const Degradation& d = r.f1_degradation;
      fmt::print("slope per 1K tokens: EM {:+.4f}, F1 {:+.4f} (F1: R^2 {:.3f}, p {:.3g} over {} lengths, cliff {})\n",
                 r.em_slope_per_1k, r.f1_slope_per_1k, d.r2, d.p_value, d.n,
                 d.cliff_tokens ? std::to_string(d.cliff_tokens) + " tokens" : "none");
    }
  });
}

}  // namespace
EDGERAG_COMMAND("eval qa", setup);
}  // namespace edgerag::cli
