#include "eval/report_quant.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "eval/calib_index.h"
#include "eval/energy.h"
#include "eval/mc.h"
#include "eval/ppl.h"
#include "eval/roofline.h"
#include "eval/qa.h"
#include "eval/report_speed.h"
#include "format/gguf.h"
#include "util/error.h"
#include "util/log.h"

namespace edgerag {
namespace {

// Lines [skip, skip + lines) of the file (lines <= 0: to the end); the same
// bytes as `tail -n +SKIP+1 | head -n LINES`.
std::string read_text(const std::string& path, int skip, int lines) {
  std::ifstream f(path, std::ios::binary);
  EDGERAG_CHECK(f, "cannot read text file {}", path);
  for (int i = 0; i < skip; ++i) f.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  if (lines <= 0) {
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string out, line;
  for (int i = 0; i < lines && std::getline(f, line); ++i) {
    out += line;
    if (!f.eof()) out += '\n';
  }
  return out;
}

std::string machine_description() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model;
  int cpus = 0;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0 && model.empty()) model = line.substr(line.find(':') + 2);
    if (line.rfind("processor", 0) == 0) ++cpus;
  }
  return fmt::format("{}, {} logical CPUs", model.empty() ? "unknown CPU" : model, cpus);
}

std::string fmt_batches(const std::vector<std::pair<int, double>>& b) {
  std::string s;
  for (const auto& [n, v] : b) s += fmt::format("{}{:.0f}", s.empty() ? "" : " / ", v);
  return s;
}

std::string dominant_type(const GgufFile& f) {
  std::map<std::string, int64_t> n;
  for (const auto& t : f.tensors())
    if (t.n_dims >= 2) n[dtype_name(t.type)] += t.n_elements();
  std::string best;
  int64_t most = -1;
  for (const auto& [k, v] : n)
    if (v > most) most = v, best = k;
  return best;
}

void write_outputs(const QuantReportOptions& opt, QuantReport& rep, const std::vector<std::string>& commands) {
  namespace fs = std::filesystem;
  const fs::path dir(opt.out_dir);
  const auto& rows = rep.rows;
  std::string batches_hdr;
  for (int b : opt.batches) batches_hdr += fmt::format("{}{}", batches_hdr.empty() ? "" : "/", b);

  // Markdown
  std::string md = "# Quantization study\n\n";
  md += fmt::format("Base model `{}`; perplexity: {} protocol, ctx {}, text `{}`{}; {} scored tokens.\n\n", opt.base,
                    opt.protocol, opt.ctx, opt.text,
                    opt.text_lines > 0 ? fmt::format(" (first {} lines)", opt.text_lines) : "",
                    rows.empty() ? 0 : rows[0].tokens_scored);
  md += fmt::format("Machine: {}; threads: {}. Energy: {}.\n\n", machine_description(), opt.threads,
                    rows.empty() ? "" : rows[0].energy_method);
  if (rep.golden_checked)
    md += fmt::format("Base perplexity vs llama.cpp reference {:.4f}: {} (|diff| {:.4f}%).\n\n", opt.golden_ppl,
                      rep.golden_ok ? "within 1%" : "OUTSIDE 1%",
                      rows.empty() ? 0.0 : 100 * std::fabs(rows[0].ppl / opt.golden_ppl - 1));
  md += "## Size and quality\n\n| model | main type | file bytes | bits/param | compression | PPL | ±| ΔPPL % | quantize s |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows)
    md += fmt::format("| {} | {} | {} | {:.3f} | {:.2f}x | {:.3f} | {:.3f} | {:+.2f} | {:.2f} |\n", r.name, r.main_type,
                      r.file_bytes, r.bits_per_param, r.compression, r.ppl, r.ppl_stderr, r.ppl_change_pct,
                      r.quant_seconds);
  const bool qa = !opt.qa_file.empty();
  if (qa) {
    md += fmt::format("\n## QA\n\n`{}`, first {} answerable questions, mode {}{}; SQuAD-normalized exact match and F1 "
                      "(0-1), greedy answers; Δ = change vs base in absolute points.\n\n"
                      "| model | EM | ΔEM | F1 | ΔF1 | answered | too long |\n|---|---:|---:|---:|---:|---:|---:|\n",
                      opt.qa_file, opt.qa_limit, opt.qa_mode, opt.qa_mode == "gold" ? " (the gold passage alone)" : "");
    for (const auto& r : rows)
      md += fmt::format("| {} | {:.3f} | {:+.3f} | {:.3f} | {:+.3f} | {} | {} |\n", r.name, r.qa_em, r.qa_em_change,
                        r.qa_f1, r.qa_f1_change, r.qa_n, r.qa_skipped);
  }
  if (qa && !opt.qa_context_tokens.empty()) {
    std::string hdr, sep;
    for (int t : opt.qa_context_tokens) hdr += fmt::format(" F1 @{} |", t), sep += "---:|";
    md += fmt::format("\n## Context length\n\nThe gold passage padded with distractors to each length (middle "
                      "position); F1 per length, then the degradation fit over the lengths answered (slope per 1K "
                      "tokens, R^2, two-sided p of the slope, cliff: first length below half the shortest's F1).\n\n"
                      "| model |{} slope/1K | R^2 | p | cliff |\n|---|{}---:|---:|---:|---:|\n",
                      hdr, sep);
    for (const auto& r : rows) {
      md += "| " + r.name + " |";
      for (const auto& s : r.qa_context.scores)
        md += s.n ? fmt::format(" {:.3f} |", s.f1) : fmt::format(" n/a (all {} longer than the model's context) |", s.skipped);
      const Degradation& d = r.qa_context.f1_degradation;
      md += d.n >= 2 ? fmt::format(" {:+.4f} | {:.3f} |", d.slope_per_1k, d.r2) : " n/a (< 2 lengths answered) | n/a |";
      md += d.n >= 3 ? fmt::format(" {:.3g} |", d.p_value) : " n/a (< 3 lengths) |";
      md += d.cliff_tokens ? fmt::format(" {} |\n", d.cliff_tokens) : " none |\n";
    }
    if (opt.qa_attention) {
      md += fmt::format("\n## Attention\n\nPer length: the answer position's attention share on the gold passage (mean "
                        "over layers and heads), its rank among the passages, the drift of the share over the first "
                        "generated tokens, its correlation with F1 across questions (Pearson / Spearman) and the mean "
                        "drift at correct and wrong answers.\n\n| model | length | gold share | rank | drift | "
                        "share-F1 r | share-F1 rho | drift-F1 r | drift-F1 rho | drift correct | drift wrong |\n"
                        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
      for (const auto& r : rows)
        for (const auto& s : r.qa_context.scores) {
          if (!s.n) {
            md += fmt::format("| {} | {} | n/a (too long) | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |\n", r.name,
                              s.context_tokens);
            continue;
          }
          const int wrong = s.n - s.n_correct;
          md += fmt::format("| {} | {} | {:.4f} | {:.2f} | {:+.4f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {} | {} |\n",
                            r.name, s.context_tokens, s.gold_attention_share, s.gold_rank, s.attention_drift,
                            s.share_f1_pearson, s.share_f1_spearman, s.drift_f1_pearson, s.drift_f1_spearman,
                            s.n_correct ? fmt::format("{:+.4f}", s.drift_correct) : std::string("n/a (none correct)"),
                            wrong ? fmt::format("{:+.4f}", s.drift_wrong) : std::string("n/a (none wrong)"));
        }
    }
  }
  const bool mc = !opt.mc_file.empty();
  if (mc) {
    md += fmt::format("\n## Reasoning / knowledge\n\n`{}`, {}-shot, scored as lm-evaluation-harness: multiple-choice acc "
                      "(summed log-likelihood) and acc_norm (per character); generation items: exact match of the "
                      "final number (strict `####`, flexible last number).\n\n"
                      "| model | acc | acc_norm | MC items | EM strict | EM flexible | generation items | too long |\n"
                      "|---|---:|---:|---:|---:|---:|---:|---:|\n",
                      opt.mc_file, opt.mc_fewshot);
    // A score over no items is not a zero: say so in the cell.
    auto score = [](double v, int n) { return n ? fmt::format("{:.4f}", v) : std::string("n/a (no items)"); };
    for (const auto& r : rows)
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", r.name, score(r.mc_acc, r.mc_n),
                        score(r.mc_acc_norm, r.mc_n), r.mc_n, score(r.mc_em_strict, r.mc_gen_n),
                        score(r.mc_em_flexible, r.mc_gen_n), r.mc_gen_n, r.mc_skipped);
  }
  md += fmt::format("\n## Speed, memory, energy\n\nPrompt {} tokens, {} generated (greedy), batch sizes {}.\n\n"
                    "| model | TTFT ms | prefill tok/s | decode tok/s | decode tok/s at B={} | peak RSS MB | J/token | "
                    "$/1M tokens |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
                    opt.n_prompt, opt.n_gen, batches_hdr, batches_hdr);
  for (const auto& r : rows) {
    const bool energy = r.energy_method != "unavailable";
    md += fmt::format("| {} | {:.2f} | {:.0f} | {:.0f} | {} | {:.1f} | {} | {} |\n", r.name, r.ttft_ms, r.prefill_tok_s,
                      r.decode_tok_s, fmt_batches(r.batch_tok_s), r.peak_rss_mb,
                      energy ? fmt::format("{:.4f}", r.energy_j_per_token) : std::string("n/a (no energy reading)"),
                      !energy            ? std::string("n/a (no energy reading)")
                      : opt.price_kwh > 0 ? fmt::format("{:.6f}", cost_per_million(r.energy_j_per_token, opt.price_kwh))
                                          : std::string("n/a (no --price-kwh)"));
  }
  const bool has_b1 = std::find(opt.batches.begin(), opt.batches.end(), 1) != opt.batches.end();
  md += "\n## Batch scaling\n\nOptimal batch: the highest total decode tok/s of the batch sizes measured; scaling "
        "efficiency there = tok/s(B) / (B x tok/s(1)).\n\n| model | optimal batch | tok/s at optimal | scaling efficiency |\n"
        "|---|---:|---:|---:|\n";
  for (const auto& r : rows) {
    double at = 0;
    for (const auto& [b, v] : r.batch_tok_s)
      if (b == r.optimal_batch) at = v;
    md += fmt::format("| {} | {} | {:.0f} | {} |\n", r.name, r.optimal_batch, at,
                      has_b1 ? fmt::format("{:.3f}", r.scaling_efficiency) : std::string("n/a (batch 1 not measured)"));
  }
  if (opt.price_kwh > 0)
    md += fmt::format("\n$/1M tokens = J/token x 10^6 / 3.6 x 10^6 J/kWh x {} $/kWh (electricity only).\n",
                      opt.price_kwh);
  if (rep.peak_gflops > 0) {
    md += fmt::format("\n## Model FLOPs utilization\n\nPeak: {:.1f} GFLOP/s, the best F32 GEMM of `edgerag bench roofline` "
                      "with the report's threads on this CPU; MFU = 2 x parameters (all tensors) x tokens/s / peak.\n\n"
                      "| model | prefill MFU % | decode MFU % |\n|---|---:|---:|\n",
                      rep.peak_gflops);
    for (const auto& r : rows)
      md += fmt::format("| {} | {:.3f} | {:.3f} |\n", r.name, 100 * r.mfu_prefill, 100 * r.mfu_decode);
  } else {
    md += "\n## Model FLOPs utilization\n\nn/a (no --roofline: no measured peak to divide by).\n";
  }
  md += "\n## Commands\n\n```\n" + opt.command_line + "\n# equivalent steps:\n";
  for (const auto& c : commands) md += c + "\n";
  md += fmt::format("```\n\nPlots: `ppl_vs_bits.png`, {}`batch_scaling.png`.\n", qa ? "`qa_f1_vs_bits.png`, " : "");
  std::ofstream(dir / "quant_report.md") << md;

  // CSV
  std::string csv = "model,method,main_type,file_bytes,n_params,bits_per_param,compression,ppl,ppl_stderr,ppl_change_pct,"
                    "tokens_scored,quant_seconds,ttft_ms,prefill_tok_s,decode_tok_s,peak_rss_mb,energy_j_per_token,"
                    "energy_method";
  for (int b : opt.batches) csv += fmt::format(",tok_s_b{}", b);
  if (qa) csv += ",qa_em,qa_f1,qa_em_change,qa_f1_change,qa_n,qa_skipped";
  if (mc) csv += ",mc_acc,mc_acc_norm,mc_n,mc_em_strict,mc_em_flexible,mc_gen_n,mc_skipped";
  if (opt.price_kwh > 0) csv += ",usd_per_1m_tokens";
  if (rep.peak_gflops > 0) csv += ",mfu_prefill,mfu_decode";
  csv += "\n";
  for (const auto& r : rows) {
    csv += fmt::format("{},{},{},{},{},{:.4f},{:.4f},{:.4f},{:.4f},{:.3f},{},{:.3f},{:.3f},{:.1f},{:.1f},{:.2f},{:.6f},\"{}\"",
                       r.name, r.method, r.main_type, r.file_bytes, r.n_params, r.bits_per_param, r.compression, r.ppl,
                       r.ppl_stderr, r.ppl_change_pct, r.tokens_scored, r.quant_seconds, r.ttft_ms, r.prefill_tok_s,
                       r.decode_tok_s, r.peak_rss_mb, r.energy_j_per_token, r.energy_method);
    for (const auto& [b, v] : r.batch_tok_s) csv += fmt::format(",{:.1f}", v);
    if (qa)
      csv += fmt::format(",{:.4f},{:.4f},{:.4f},{:.4f},{},{}", r.qa_em, r.qa_f1, r.qa_em_change, r.qa_f1_change, r.qa_n,
                         r.qa_skipped);
    if (mc)
      csv += fmt::format(",{:.4f},{:.4f},{},{:.4f},{:.4f},{},{}", r.mc_acc, r.mc_acc_norm, r.mc_n, r.mc_em_strict,
                         r.mc_em_flexible, r.mc_gen_n, r.mc_skipped);
    if (opt.price_kwh > 0) csv += fmt::format(",{:.6f}", cost_per_million(r.energy_j_per_token, opt.price_kwh));
    if (rep.peak_gflops > 0) csv += fmt::format(",{:.6f},{:.6f}", r.mfu_prefill, r.mfu_decode);
    csv += "\n";
  }
  std::ofstream(dir / "quant_report.csv") << csv;

  // JSON
  nlohmann::json j;
  j["base"] = opt.base;
  j["machine"] = machine_description();
  j["command"] = opt.command_line;
  j["commands"] = commands;
  j["perplexity"] = {{"protocol", opt.protocol}, {"ctx", opt.ctx}, {"text", opt.text}, {"text_lines", opt.text_lines}};
  if (qa) j["qa"] = {{"file", opt.qa_file}, {"limit", opt.qa_limit}, {"mode", opt.qa_mode}};
  if (rep.golden_checked) j["golden"] = {{"reference_ppl", opt.golden_ppl}, {"within_1pct", rep.golden_ok}};
  for (const auto& r : rows) {
    nlohmann::json bj = nlohmann::json::object();
    for (const auto& [b, v] : r.batch_tok_s) bj[std::to_string(b)] = v;
    j["rows"].push_back({{"model", r.name}, {"method", r.method}, {"calib_set", r.calib_set}, {"path", r.path}, {"main_type", r.main_type},
                         {"file_bytes", r.file_bytes}, {"n_params", r.n_params}, {"bits_per_param", r.bits_per_param},
                         {"compression", r.compression}, {"ppl", r.ppl}, {"ppl_stderr", r.ppl_stderr},
                         {"ppl_change_pct", r.ppl_change_pct}, {"tokens_scored", r.tokens_scored},
                         {"quant_seconds", r.quant_seconds}, {"ttft_ms", r.ttft_ms},
                         {"prefill_tok_s", r.prefill_tok_s}, {"decode_tok_s", r.decode_tok_s},
                         {"peak_rss_mb", r.peak_rss_mb}, {"energy_j_per_token", r.energy_j_per_token},
                         {"energy_method", r.energy_method}, {"batch_tok_s", bj},
                         {"optimal_batch", r.optimal_batch}, {"scaling_efficiency", r.scaling_efficiency}});
    if (qa)
      j["rows"].back()["qa"] = {{"em", r.qa_em}, {"f1", r.qa_f1}, {"em_change", r.qa_em_change},
                                {"f1_change", r.qa_f1_change}, {"n", r.qa_n}, {"skipped", r.qa_skipped}};
    if (mc)
      j["rows"].back()["mc"] = {{"acc", r.mc_acc},           {"acc_norm", r.mc_acc_norm},
                                {"n", r.mc_n},               {"em_strict", r.mc_em_strict},
                                {"em_flexible", r.mc_em_flexible}, {"gen_n", r.mc_gen_n},
                                {"skipped", r.mc_skipped}};
    if (!r.qa_context.scores.empty()) {
      auto& c = j["rows"].back()["qa_context"];
      for (const auto& s : r.qa_context.scores)
        c["lengths"].push_back({{"context_tokens", s.context_tokens}, {"n", s.n}, {"skipped", s.skipped},
                                {"em", s.em}, {"f1", s.f1}, {"gold_attention_share", s.gold_attention_share},
                                {"gold_rank", s.gold_rank}, {"attention_drift", s.attention_drift},
                                {"share_f1_pearson", s.share_f1_pearson}, {"drift_f1_pearson", s.drift_f1_pearson}});
      const Degradation& d = r.qa_context.f1_degradation;
      c["f1_degradation"] = {{"n", d.n}, {"slope_per_1k", d.slope_per_1k}, {"r2", d.r2}, {"p_value", d.p_value},
                             {"cliff_tokens", d.cliff_tokens}};
    }
    if (rep.peak_gflops > 0) {
      j["rows"].back()["mfu_prefill"] = r.mfu_prefill;
      j["rows"].back()["mfu_decode"] = r.mfu_decode;
    }
    if (opt.price_kwh > 0)
      j["rows"].back()["usd_per_1m_tokens"] = cost_per_million(r.energy_j_per_token, opt.price_kwh);
  }
  std::ofstream(dir / "quant_report.json") << j.dump(1) << "\n";

  // Plots: data files + one gnuplot script.
  std::string bits_dat = "# model bits_per_param ppl qa_f1\n", batch_dat = "# batch";
  for (const auto& r : rows) {
    bits_dat += fmt::format("{} {:.4f} {:.4f} {:.4f}\n", r.name, r.bits_per_param, r.ppl, r.qa_f1);
    batch_dat += " " + r.name;
  }
  batch_dat += "\n";
  for (size_t i = 0; i < opt.batches.size(); ++i) {
    batch_dat += std::to_string(opt.batches[i]);
    for (const auto& r : rows) batch_dat += fmt::format(" {:.1f}", i < r.batch_tok_s.size() ? r.batch_tok_s[i].second : 0);
    batch_dat += "\n";
  }
  std::ofstream(dir / "ppl_vs_bits.dat") << bits_dat;
  std::ofstream(dir / "batch_scaling.dat") << batch_dat;
  std::string gp = "set terminal pngcairo size 800,500\nset grid\n"
                   "set output 'ppl_vs_bits.png'\nset xlabel 'bits per parameter'\nset ylabel 'perplexity'\n"
                   "plot 'ppl_vs_bits.dat' using 2:3:1 with labels point pt 7 offset 1,1 notitle\n";
  if (qa)
    gp += "set output 'qa_f1_vs_bits.png'\nset ylabel 'QA F1'\n"
          "plot 'ppl_vs_bits.dat' using 2:4:1 with labels point pt 7 offset 1,1 notitle\n";
  gp += "set output 'batch_scaling.png'\nset xlabel 'batch size'\nset ylabel 'generated tokens/s'\n"
        "set logscale x 2\nplot ";
  for (size_t i = 0; i < rows.size(); ++i)
    gp += fmt::format("{}'batch_scaling.dat' using 1:{} with linespoints title '{}'", i ? ", " : "", i + 2, rows[i].name);
  gp += "\n";
  std::ofstream(dir / "plots.gp") << gp;
  const std::string cmd = fmt::format("cd '{}' && gnuplot plots.gp 2>/dev/null", dir.string());
  if (std::system(cmd.c_str()) != 0) log(LogLevel::Warn, "gnuplot failed; the .dat files and plots.gp are in {}", dir.string());
  rep.files = {"quant_report.md", "quant_report.csv", "quant_report.json", "ppl_vs_bits.png", "batch_scaling.png"};
  if (qa) rep.files.push_back("qa_f1_vs_bits.png");
}

}  // namespace

QuantReport run_quant_report(const QuantReportOptions& opt) {
  namespace fs = std::filesystem;
  EDGERAG_CHECK(!opt.out_dir.empty(), "report: an output directory is required");
  fs::create_directories(opt.out_dir);
  const std::string text = read_text(opt.text, 0, opt.text_lines);
  ThreadPool pool(opt.threads > 0 ? opt.threads : default_thread_count());
  QuantReportOptions o = opt;
  o.threads = pool.size();
  SpeedOptions so{opt.n_prompt, opt.n_gen, opt.batches, opt.tdp_watts};
  PplOptions po;
  po.ctx = opt.ctx;
  po.protocol = opt.protocol;
  po.max_tokens = opt.ppl_tokens;

  QuantReport rep;
  std::vector<std::string> commands;
  const std::string text_arg = opt.text_lines > 0 ? "TEXT_HEAD" : opt.text;
  if (opt.text_lines > 0) commands.push_back(fmt::format("head -n {} {} > TEXT_HEAD", opt.text_lines, opt.text));
  quant::QuantizeOptions qopt = opt.quant;
  const bool calibrated = std::any_of(opt.methods.begin(), opt.methods.end(), quant::calibrated_method);
  if (calibrated && qopt.calib_file.empty() && opt.calib_sets.empty() && opt.calib_from_index.empty()) {
    // Calibrating on the scored text would flatter gptq/awq: use the rest of the file.
    EDGERAG_CHECK(opt.text_lines > 0, "report: gptq/awq need --calib FILE, or --text-lines N to calibrate on the "
                                      "lines after the first N (held out from perplexity)");
    const std::string held_out = read_text(opt.text, opt.text_lines, 0);
    EDGERAG_CHECK(!held_out.empty(), "report: {} has no lines after the first {} to calibrate on", opt.text,
                  opt.text_lines);
    qopt.calib_file = (fs::path(opt.out_dir) / "calib_heldout.txt").string();
    std::ofstream(qopt.calib_file, std::ios::binary) << held_out;
    commands.push_back(fmt::format("tail -n +{} {} > {}", opt.text_lines + 1, opt.text, qopt.calib_file));
  }
  EDGERAG_CHECK(opt.qa_mode == "gold" || opt.qa_mode == "closed", "report: unknown QA mode '{}' (gold, closed)",
                opt.qa_mode);
  const std::vector<QaItem> qa_items = opt.qa_file.empty() ? std::vector<QaItem>{} : load_qa(opt.qa_file, opt.qa_limit);
  EDGERAG_CHECK(opt.qa_file.empty() || !qa_items.empty(), "report: no answerable questions in {}", opt.qa_file);
  QaOptions qa;
  qa.mode = opt.qa_mode;
  std::vector<McItem> mc_items, mc_shots;
  if (!opt.mc_file.empty()) {
    mc_items = load_mc(opt.mc_file);
    EDGERAG_CHECK(opt.mc_fewshot >= 0 && static_cast<size_t>(opt.mc_fewshot) < mc_items.size(),
                  "report: {} has {} items, fewer than --mc-fewshot {} + 1", opt.mc_file, mc_items.size(), opt.mc_fewshot);
    mc_shots.assign(mc_items.begin(), mc_items.begin() + opt.mc_fewshot);
    mc_items.erase(mc_items.begin(), mc_items.begin() + opt.mc_fewshot);
    if (opt.mc_limit && mc_items.size() > opt.mc_limit) mc_items.resize(opt.mc_limit);
  }
  McOptions mco;
  mco.num_fewshot = opt.mc_fewshot;
  auto measure = [&](QuantReportRow& row) {
    auto model = Model::load(row.path);
    const PplResult p = perplexity(*model, text, po, &pool);
    row.ppl = p.ppl;
    row.ppl_stderr = p.ppl_stderr;
    row.tokens_scored = p.tokens_scored;
    if (!qa_items.empty()) {
      const QaScore s = eval_qa(*model, qa_items, qa, &pool).scores.at(0);
      row.qa_em = s.em, row.qa_f1 = s.f1, row.qa_n = s.n, row.qa_skipped = s.skipped;
      commands.push_back(fmt::format("edgerag eval qa -m {} --data {} --mode {} -n {} --json", row.path, opt.qa_file,
                                     opt.qa_mode, opt.qa_limit));
    }
    if (!qa_items.empty() && !opt.qa_context_tokens.empty()) {
      QaOptions qc = qa;
      qc.mode = "gold";
      qc.context_tokens = opt.qa_context_tokens;
      qc.attention = opt.qa_attention;
      row.qa_context = eval_qa(*model, qa_items, qc, &pool);
    }
    if (!mc_items.empty()) {
      const McResult m = eval_mc(*model, mc_items, mc_shots, mco, &pool);
      row.mc_acc = m.acc, row.mc_acc_norm = m.acc_norm, row.mc_em_strict = m.em_strict;
      row.mc_em_flexible = m.em_flexible, row.mc_n = m.n_mc, row.mc_gen_n = m.n_gen, row.mc_skipped = m.skipped;
      commands.push_back(fmt::format("edgerag eval mc -m {} --data {} --num-fewshot {}{} --json", row.path, opt.mc_file,
                                     opt.mc_fewshot, opt.mc_limit ? fmt::format(" -n {}", opt.mc_limit) : ""));
    }
    model.reset();
    const SpeedResult s = measure_speed(row.path, so, &pool);
    row.ttft_ms = s.ttft_ms, row.prefill_tok_s = s.prefill_tok_s, row.decode_tok_s = s.decode_tok_s;
    row.peak_rss_mb = s.peak_rss_mb, row.energy_j_per_token = s.energy_j_per_token, row.energy_method = s.energy_method;
    row.batch_tok_s = s.batch_tok_s;
    double best = -1, single = 0;
    for (const auto& [b, v] : row.batch_tok_s) {
      if (b == 1) single = v;
      if (v > best) best = v, row.optimal_batch = b;
    }
    row.scaling_efficiency = single > 0 && row.optimal_batch > 0 ? best / (row.optimal_batch * single) : 0;
    auto f = GgufFile::open(row.path);
    row.file_bytes = f->file_size();
    row.main_type = dominant_type(*f);
    for (const auto& t : f->tensors()) row.n_params += t.n_elements();
    int64_t tensor_bytes = 0;
    for (const auto& t : f->tensors()) tensor_bytes += static_cast<int64_t>(t.nbytes);
    row.bits_per_param = 8.0 * tensor_bytes / row.n_params;
    row.mfu_prefill = model_flops_utilization(row.n_params, row.prefill_tok_s, rep.peak_gflops);
    row.mfu_decode = model_flops_utilization(row.n_params, row.decode_tok_s, rep.peak_gflops);
    commands.push_back(fmt::format("edgerag eval ppl -m {} --text {} --ctx {} --protocol {}{} --json", row.path,
                                   text_arg, opt.ctx, opt.protocol,
                                   opt.ppl_tokens ? fmt::format(" --max-tokens {}", opt.ppl_tokens) : ""));
    log(LogLevel::Info, "report: {}: ppl {:.4f}, {:.3f} bits/param", row.name, row.ppl, row.bits_per_param);
  };

  if (opt.roofline) {
    rep.peak_gflops = gemm_roofline({.threads = static_cast<int>(pool.size())}).gflops;
    commands.push_back(fmt::format("edgerag bench roofline -t {} --json", pool.size()));
  }
  QuantReportRow base;
  base.name = "base";
  base.method = "none";
  base.path = opt.base;
  measure(base);
  rep.rows.push_back(base);
  if (opt.golden_ppl > 0) {
    rep.golden_checked = true;
    rep.golden_ok = std::fabs(base.ppl / opt.golden_ppl - 1) <= 0.01;
  }
  auto calib_sets = opt.calib_sets;
  if (!opt.calib_from_index.empty()) {
    const std::string path = (fs::path(opt.out_dir) / "calib_index.txt").string();
    std::ofstream(path, std::ios::binary) << calibration_text_from_index(opt.calib_from_index);
    calib_sets.emplace_back("rag", path);
  }
  for (const auto& [name, file] : calib_sets) {
    // The name goes into file names and table rows.
    EDGERAG_CHECK(!name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
                    return std::isalnum(c) || c == '_' || c == '-';
                  }),
                  "report: calibration set name '{}' must be 1-32 letters, digits, '_' or '-'", name);
    EDGERAG_CHECK(fs::is_regular_file(file), "report: calibration set '{}': no file '{}'", name, file);
  }
  // (method, calibration set): calibrated methods once per set, the others once.
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> variants;
  for (const auto& m : opt.methods) {
    if (!quant::calibrated_method(m) || calib_sets.empty()) variants.push_back({m, {"", qopt.calib_file}});
    else
      for (const auto& set : calib_sets) variants.push_back({m, set});
  }
  for (const auto& [m, set] : variants) {
    quant::QuantizeOptions q = qopt;
    q.method = m;
    q.calib_file = set.second;
    q.threads = pool.size();
    q.autoround.nsamples = 0;  // every calibrated method sees the same calibration tokens
    QuantReportRow row;
    row.name = fmt::format("{}-{}b{}", m, q.bits, set.first.empty() ? "" : "@" + set.first);
    row.calib_set = set.first;
    row.method = m;
    row.path = (fs::path(opt.out_dir) / (row.name + ".gguf")).string();
    const auto sum = quant::quantize_model(opt.base, row.path, q);
    row.quant_seconds = sum.seconds;
    std::string cmd = fmt::format("edgerag quantize -m {} -o {} --method {} --bits {} --group {}", opt.base, row.path, m,
                                  q.bits, q.group);
    if (quant::calibrated_method(m))
      cmd += fmt::format(" --calib {} --calib-tokens {}{}", q.calib_file, q.calib_tokens,
                         m == "autoround" ? " --nsamples 0" : "");
    commands.push_back(cmd);
    measure(row);
    row.compression = static_cast<double>(base.file_bytes) / row.file_bytes;
    row.ppl_change_pct = 100 * (row.ppl / base.ppl - 1);
    row.qa_em_change = row.qa_em - base.qa_em;
    row.qa_f1_change = row.qa_f1 - base.qa_f1;
    rep.rows.push_back(row);
  }
  write_outputs(o, rep, commands);
  return rep;
}

}  // namespace edgerag
