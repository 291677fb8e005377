// edgerag report quant: the quantization study (tables, CSV, JSON, plots).
#include <cstdio>
#include <sstream>

#include <fmt/format.h>

#include "command.h"
#include "eval/report_quant.h"
#include "util/error.h"

namespace edgerag::cli {
namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

struct Flags {
  QuantReportOptions opt;
  std::string methods = "rtn,nf4,hqq,gptq,awq,autoround,spqr", batches = "1,2,4,8";
  std::vector<std::string> calib_sets;
};

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("quant", "Quantization study: size, perplexity, speed, memory, energy per method");
  auto f = std::make_shared<Flags>();
  auto& o = f->opt;
  cmd->add_option("-m,--model", o.base, "Base model (F32/F16 GGUF; file or name)")->required();
  cmd->add_option("--methods", f->methods, "Comma-separated methods")->default_val(f->methods);
  cmd->add_option("--text", o.text, "Perplexity text file")->required();
  cmd->add_option("--text-lines", o.text_lines, "Use only the first N lines of the text (like head -n)");
  cmd->add_option("--ctx", o.ctx, "Perplexity context")->default_val(128);
  cmd->add_option("--protocol", o.protocol, "Perplexity protocol: chunked | sliding")->default_val("chunked");
  cmd->add_option("--ppl-tokens", o.ppl_tokens, "Score only the first N tokens (0 = all)");
  cmd->add_option("--bits", o.quant.bits, "Bits per weight code")->default_val(4);
  cmd->add_option("--group", o.quant.group, "Weights per scale")->default_val(32);
  cmd->add_option("--calib", o.quant.calib_file,
                  "Calibration text for gptq/awq/autoround/spqr (default: the lines of --text after --text-lines, held out)");
  cmd->add_option("--calib-set", f->calib_sets,
                  "NAME=FILE, repeatable: run gptq/awq/autoround/spqr once per calibration set (rows METHOD-Nb@NAME)");
  cmd->add_option("--calib-from-index", o.calib_from_index,
                  "edgerag index directory: its sampled chunk texts become the calibration set 'rag'");
  cmd->add_option("--calib-tokens", o.quant.calib_tokens, "Calibration tokens")->default_val(2048);
  cmd->add_option("--qa", o.qa_file, "QA file (SQuAD JSON, NQ-open / RGB JSONL): adds EM/F1 per variant");
  cmd->add_option("--qa-limit", o.qa_limit, "QA questions")->default_val(50);
  cmd->add_option("--qa-mode", o.qa_mode, "QA mode: gold (gold passage) | closed (no passage)")->default_val("gold");
  cmd->add_option("--qa-context-tokens", o.qa_context_tokens,
                  "Pad the gold passage to these lengths, e.g. 512,1024,2048,4096 (context-length table)")
      ->delimiter(',');
  cmd->add_flag("--qa-attention", o.qa_attention, "With --qa-context-tokens: the attention tables");
  cmd->add_option("--qa-positions", o.qa_positions,
                  "With --qa-context-tokens: gold passage positions for the position effect (0 first, 1 last)")
      ->delimiter(',')
      ->default_str("0,0.5,1");
  cmd->add_option("--qa-position-tokens", o.qa_position_tokens,
                  "Context length of the position effect (default: the first --qa-context-tokens)");
  cmd->add_option("--mc", o.mc_file, "eval mc JSONL (multiple choice / GSM8K): adds reasoning / knowledge scores");
  cmd->add_option("--mc-knowledge", o.mc_knowledge_file,
                  "A second eval mc JSONL (MMLU, BoolQ shapes): the knowledge tables (8 and 22)");
  cmd->add_option("--mc-limit", o.mc_limit, "Multiple-choice items (0 = all)")->default_val(0);
  cmd->add_option("--mc-fewshot", o.mc_fewshot, "The first N --mc items become few-shot examples")->default_val(0);
  cmd->add_flag("--roofline", o.roofline, "Measure the F32 GEMM peak (bench roofline): adds MFU per variant");
  cmd->add_option("--price-kwh", o.price_kwh, "Electricity price per kWh: adds $/1M tokens");
  cmd->add_option("--n-prompt", o.n_prompt, "Prompt tokens for latency")->default_val(128);
  cmd->add_option("--n-gen", o.n_gen, "Generated tokens for latency")->default_val(32);
  cmd->add_option("--batches", f->batches, "Batch sizes for throughput scaling")->default_val(f->batches);
  cmd->add_option("--tdp-watts", o.tdp_watts, "Package TDP for the energy estimate when RAPL is unreadable");
  cmd->add_option("--golden-ppl", o.golden_ppl, "Reference perplexity of the base model (checked within 1%)");
  cmd->add_option("-t,--threads", o.threads, "Threads (default: all cores)");
  cmd->add_option("-o,--output", o.out_dir, "Output directory")->required();
  cmd->callback([f, &app] {
    auto& o = f->opt;
    o.base = resolve_model_flag(o.base);
    o.methods = split(f->methods);
    for (const auto& s : f->calib_sets) {
      const size_t eq = s.find('=');
      if (eq == std::string::npos || eq == 0) fail("--calib-set wants NAME=FILE (got '{}')", s);
      o.calib_sets.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    o.batches.clear();
    for (const auto& b : split(f->batches)) o.batches.push_back(std::stoi(b));
    o.command_line = "edgerag report quant";
    for (const auto* opt : app.get_subcommand("quant")->get_options())
      if (opt->count() > 0 && opt->get_name() != "--help")
        o.command_line += fmt::format(" {} {}", opt->get_name(false, true).substr(0, opt->get_name(false, true).find(',')),
                                      opt->as<std::string>());
    const QuantReport rep = run_quant_report(o);
    for (const auto& r : rep.rows)
      fmt::print("{:<10} {:>8.3f} bits/param  PPL {:>9.4f} ({:+.2f}%)  decode {:>8.0f} tok/s{}\n", r.name,
                 r.bits_per_param, r.ppl, r.ppl_change_pct, r.decode_tok_s,
                 o.qa_file.empty() ? "" : fmt::format("  QA EM {:.3f} F1 {:.3f}", r.qa_em, r.qa_f1));
    if (rep.golden_checked) fmt::print("base perplexity vs reference {}: {}\n", o.golden_ppl, rep.golden_ok ? "within 1%" : "OUTSIDE 1%");
    fmt::print("wrote {}/quant_report.{{md,csv,json}}, tables 1-28 and plots\n", o.out_dir);
    if (rep.golden_checked && !rep.golden_ok) fail("base model perplexity is outside 1% of the reference");
  });
}

}  // namespace
EDGERAG_COMMAND("report quant", setup);
}  // namespace edgerag::cli
