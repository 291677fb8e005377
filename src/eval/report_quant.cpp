#include "eval/report_quant.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
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
#include "eval/report_tables.h"
#include "eval/roofline.h"
#include "eval/qa.h"
#include "eval/report_speed.h"
#include "eval/svg_plot.h"
#include "format/gguf.h"
#include "tensor/sparse.h"
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

// The study's plots as SVG files in the output directory; returns their names.
std::vector<std::string> write_plots(const QuantReportOptions& opt, const QuantReport& rep) {
  const std::filesystem::path dir(opt.out_dir);
  std::vector<std::string> names;
  auto write = [&](const std::string& name, const std::vector<PlotSeries>& series, const PlotOptions& po) {
    std::ofstream(dir / name) << svg_plot(series, po);
    names.push_back(name);
  };
  // Quality against size: one labelled point per variant.
  auto per_variant = [&](double QuantReportRow::*y) {
    std::vector<PlotSeries> s;
    for (const auto& r : rep.rows) s.push_back({r.name, {{r.bits_per_param, r.*y}}});
    return s;
  };
  write("ppl_vs_bits.svg", per_variant(&QuantReportRow::ppl),
        {.title = "Perplexity against size", .x_label = "bits per parameter", .y_label = "perplexity", .lines = false});
  const bool qa = !opt.qa_file.empty();
  if (qa)
    write("qa_f1_vs_bits.svg", per_variant(&QuantReportRow::qa_f1),
          {.title = "QA F1 against size", .x_label = "bits per parameter", .y_label = "F1", .lines = false});
  std::vector<PlotSeries> batch, length, position;
  for (const auto& r : rep.rows) {
    batch.push_back({r.name, {}});
    for (const auto& [b, v] : r.batch_tok_s) batch.back().points.emplace_back(b, v);
    length.push_back({r.name, {}});
    for (const auto& sc : r.qa_context.scores)
      if (sc.n) length.back().points.emplace_back(sc.context_tokens, sc.f1);
    position.push_back({r.name, {}});
    for (size_t i = 0; i < r.qa_positions.size() && i < opt.qa_positions.size(); ++i)
      if (r.qa_positions[i].n) position.back().points.emplace_back(opt.qa_positions[i], r.qa_positions[i].f1);
  }
  write("batch_scaling.svg", batch,
        {.title = "Batch scaling", .x_label = "batch size", .y_label = "generated tokens/s", .log2_x = true});
  if (qa && !opt.qa_context_tokens.empty()) {
    write("f1_vs_context.svg", length,
          {.title = "Context degradation", .x_label = "context tokens", .y_label = "F1", .log2_x = true});
    write("f1_vs_position.svg", position,
          {.title = "Position effect", .x_label = "gold passage position (0 first, 1 last)", .y_label = "F1"});
  }
  return names;
}

void write_outputs(const QuantReportOptions& opt, QuantReport& rep, const std::vector<std::string>& commands) {
  namespace fs = std::filesystem;
  const fs::path dir(opt.out_dir);
  const auto& rows = rep.rows;

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
  // The study's tables 1-28; each also as tables/table_NN.csv and in the JSON.
  const std::vector<StudyTable> tables = study_tables(opt, rep);
  fs::create_directories(dir / "tables");
  for (const auto& t : tables) {
    md += table_markdown(t) + "\n";
    std::ofstream(dir / "tables" / fmt::format("table_{:02}.csv", t.number)) << table_csv(t);
  }
  const bool qa = !opt.qa_file.empty(), mc = !opt.mc_file.empty();
  const std::vector<std::string> plots = write_plots(opt, rep);
  md += "## Commands\n\n```\n" + opt.command_line + "\n# equivalent steps:\n";
  for (const auto& c : commands) md += c + "\n";
  md += "```\n\nPlots:";
  for (const auto& p : plots) md += fmt::format(" `{}`", p);
  md += "\n";
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
                         {"matrix_bits", r.matrix_bits}, {"outlier_share", r.outlier_share},
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
  for (const auto& t : tables) j["tables"].push_back(table_json(t));
  std::ofstream(dir / "quant_report.json") << j.dump(1) << "\n";

  rep.files = {"quant_report.md", "quant_report.csv", "quant_report.json"};
  for (const auto& t : tables) rep.files.push_back(fmt::format("tables/table_{:02}.csv", t.number));
  rep.files.insert(rep.files.end(), plots.begin(), plots.end());
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
  // An eval_mc file: its first mc_fewshot items become the examples, the next mc_limit are scored.
  auto load_mc_file = [&](const std::string& file, std::vector<McItem>& items, std::vector<McItem>& shots) {
    if (file.empty()) return;
    items = load_mc(file);
    EDGERAG_CHECK(opt.mc_fewshot >= 0 && static_cast<size_t>(opt.mc_fewshot) < items.size(),
                  "report: {} has {} items, fewer than --mc-fewshot {} + 1", file, items.size(), opt.mc_fewshot);
    shots.assign(items.begin(), items.begin() + opt.mc_fewshot);
    items.erase(items.begin(), items.begin() + opt.mc_fewshot);
    if (opt.mc_limit && items.size() > opt.mc_limit) items.resize(opt.mc_limit);
  };
  std::vector<McItem> mc_items, mc_shots, knowledge_items, knowledge_shots;
  load_mc_file(opt.mc_file, mc_items, mc_shots);
  load_mc_file(opt.mc_knowledge_file, knowledge_items, knowledge_shots);
  McOptions mco;
  mco.num_fewshot = opt.mc_fewshot;
  const int position_tokens = opt.qa_position_tokens > 0 ? opt.qa_position_tokens
                              : opt.qa_context_tokens.empty() ? 0 : opt.qa_context_tokens.front();
  for (double p : opt.qa_positions)
    EDGERAG_CHECK(p >= 0 && p <= 1, "report: gold position {} is outside [0, 1]", p);
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
    if (!qa_items.empty() && !opt.qa_context_tokens.empty())
      for (double p : opt.qa_positions) {
        QaOptions qp = qa;
        qp.mode = "gold";
        qp.context_tokens = {position_tokens};
        qp.gold_position = p;
        row.qa_positions.push_back(eval_qa(*model, qa_items, qp, &pool).scores.at(0));
      }
    if (!knowledge_items.empty()) row.knowledge = eval_mc(*model, knowledge_items, knowledge_shots, mco, &pool);
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
    for (const auto& t : f->tensors())  // SpQR outlier side tensors count as bytes, not parameters
      if (!t.name.ends_with(kOutlierSuffix)) row.n_params += t.n_elements();
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
    row.matrix_bits = sum.method_bits();
    row.outlier_share = sum.outlier_share();
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
