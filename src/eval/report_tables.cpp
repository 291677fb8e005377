#include "eval/report_tables.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "eval/energy.h"
#include "quant/model_quantizer.h"

namespace edgerag {
namespace {

using Row = QuantReportRow;
using Rows = std::vector<const Row*>;

StudyCell num(double v, int precision) {
  if (!std::isfinite(v)) return {std::nullopt, "n/a (not a finite number)"};
  return {v, fmt::format("{:.{}f}", v, precision)};
}
StudyCell blank(const std::string& why) { return {std::nullopt, "n/a (" + why + ")"}; }

// A row's cells from per-column functions, or every cell the same blank.
using Col = std::function<StudyCell(const Row&)>;
using LenCol = std::function<StudyCell(const QaScore&)>;

// A column that prints one numeric field of the row (or of a length's score).
template <class T>
Col field(T Row::*f, int precision) {
  return [f, precision](const Row& r) { return num(static_cast<double>(r.*f), precision); };
}
template <class T>
LenCol score_field(T QaScore::*f, int precision) {
  return [f, precision](const QaScore& s) { return num(static_cast<double>(s.*f), precision); };
}

struct Builder {
  const QuantReportOptions& opt;
  const QuantReport& rep;

  bool qa() const { return !opt.qa_file.empty(); }
  bool lengths() const { return qa() && !opt.qa_context_tokens.empty(); }
  std::string no_lengths() const { return qa() ? "no --qa-context-tokens" : "no --qa file"; }

  // One row per model, value columns from `cols` (or all `why` when non-empty).
  StudyTable per_model(const Rows& rows, std::vector<std::string> names, const std::vector<Col>& cols,
                       const std::string& why = "") const {
    StudyTable t;
    t.labels = {"model"};
    t.columns = std::move(names);
    for (const Row* r : rows) {
      StudyTable::Row out{{r->name}, {}};
      for (size_t c = 0; c < t.columns.size(); ++c) out.cells.push_back(why.empty() ? cols[c](*r) : blank(why));
      t.rows.push_back(std::move(out));
    }
    return t;
  }

  // One row per model and context length (the attention tables); `cols` see the
  // length's score, which has answered items.
  StudyTable per_length(const Rows& rows, std::vector<std::string> names, const std::vector<LenCol>& cols) const {
    StudyTable t;
    t.labels = {"model", "context tokens"};
    t.columns = std::move(names);
    for (const Row* r : rows) {
      if (!lengths() || !opt.qa_attention) {
        const std::string why = !lengths() ? no_lengths() : "no --qa-attention";
        t.rows.push_back({{r->name, "-"}, std::vector<StudyCell>(t.columns.size(), blank(why))});
        continue;
      }
      for (const QaScore& s : r->qa_context.scores) {
        StudyTable::Row out{{r->name, std::to_string(s.context_tokens)}, {}};
        for (const auto& c : cols)
          out.cells.push_back(s.n ? c(s) : blank(fmt::format("all {} prompts longer than the model's context", s.skipped)));
        t.rows.push_back(std::move(out));
      }
    }
    return t;
  }

  StudyTable latency(const Rows& rows) const {
    StudyTable t = per_model(rows, {"TTFT ms", "prefill tok/s", "decode tok/s", "ms/token"},
                             {field(&Row::ttft_ms, 2),
                              field(&Row::prefill_tok_s, 0),
                              field(&Row::decode_tok_s, 0),
                              [](const Row& r) { return r.decode_tok_s > 0 ? num(1000 / r.decode_tok_s, 3) : blank("no tokens decoded"); }});
    t.title = "Latency";
    t.note = fmt::format("Prompt {} tokens, {} generated greedily, batch 1: time to first token, prefill and decode "
                         "rates, decode time per token.", opt.n_prompt, opt.n_gen);
    return t;
  }

  StudyTable memory(const Rows& rows) const {
    auto quantized = [](double Row::*f, double scale, int digits) {
      return Col([=](const Row& r) { return r.matrix_bits > 0 ? num(scale * (r.*f), digits) : blank("not quantized"); });
    };
    StudyTable t = per_model(rows, {"file MB", "bits/param", "matrix bits/weight", "outlier %", "compression x",
                                    "peak RSS MB"},
                             {[](const Row& r) { return num(r.file_bytes / 1e6, 4); },
                              field(&Row::bits_per_param, 3),
                              quantized(&Row::matrix_bits, 1, 3),
                              quantized(&Row::outlier_share, 100, 3),
                              field(&Row::compression, 2),
                              field(&Row::peak_rss_mb, 1)});
    t.labels.push_back("main type");
    for (size_t i = 0; i < rows.size(); ++i) t.rows[i].labels.push_back(rows[i]->main_type);
    t.title = "Memory and compression";
    t.note = "GGUF file size, bits per parameter over all tensors, effective bits per weight of the matrices the "
             "method quantized, from the bytes stored (codes + group scales/offsets + the SpQR outlier side tensor: "
             "24 bits per outlier (fp16 + column byte), 8 bits per row segment of up to 128 columns), share of those weights kept as SpQR "
             "outliers, compression against the base file, peak resident "
             "memory of the speed run; main type: the type holding most matrix weights.";
    return t;
  }

  StudyTable throughput(const Rows& rows) const {
    const bool roof = rep.peak_gflops > 0;
    auto mfu = [roof](double Row::*f) {
      return Col([roof, f](const Row& r) { return roof ? num(100 * (r.*f), 3) : blank("no --roofline"); });
    };
    StudyTable t = per_model(rows, {"prefill tok/s", "decode tok/s", "prefill MFU %", "decode MFU %"},
                             {field(&Row::prefill_tok_s, 0),
                              field(&Row::decode_tok_s, 0), mfu(&Row::mfu_prefill),
                              mfu(&Row::mfu_decode)});
    t.title = "Throughput";
    t.note = roof ? fmt::format("Model FLOPs utilization = 2 x parameters x tokens/s / peak; peak {:.1f} GFLOP/s, the "
                                "best F32 GEMM of `edgerag bench roofline` on this CPU.", rep.peak_gflops)
                  : "MFU needs the measured GEMM peak: run with --roofline.";
    return t;
  }

  StudyTable batch(const Rows& rows) const {
    std::vector<std::string> names;
    std::vector<Col> cols;
    for (size_t i = 0; i < opt.batches.size(); ++i) {
      names.push_back(fmt::format("tok/s B={}", opt.batches[i]));
      cols.push_back([i](const Row& r) { return i < r.batch_tok_s.size() ? num(r.batch_tok_s[i].second, 0) : blank("not measured"); });
    }
    const bool has_b1 = std::find(opt.batches.begin(), opt.batches.end(), 1) != opt.batches.end();
    names.insert(names.end(), {"optimal batch", "scaling efficiency"});
    cols.push_back(field(&Row::optimal_batch, 0));
    cols.push_back([has_b1](const Row& r) { return has_b1 ? num(r.scaling_efficiency, 3) : blank("batch 1 not measured"); });
    StudyTable t = per_model(rows, names, cols);
    t.title = "Batch scaling";
    t.note = "Total decode tok/s of B sequences decoded together; optimal batch: the highest of them; scaling "
             "efficiency there = tok/s(B) / (B x tok/s(1)).";
    return t;
  }

  StudyTable energy(const Rows& rows) const {
    const double price = opt.price_kwh;
    StudyTable t = per_model(
        rows, {"J/token", "tokens/J", "$/1M tokens"},
        {[](const Row& r) { return r.energy_method == "unavailable" ? blank("no energy reading") : num(r.energy_j_per_token, 4); },
         [](const Row& r) {
           return r.energy_method == "unavailable" || r.energy_j_per_token <= 0 ? blank("no energy reading")
                                                                                : num(1 / r.energy_j_per_token, 2);
         },
         [price](const Row& r) {
           if (r.energy_method == "unavailable") return blank("no energy reading");
           return price > 0 ? num(cost_per_million(r.energy_j_per_token, price), 6) : blank("no --price-kwh");
         }});
    t.labels.push_back("energy method");
    for (size_t i = 0; i < rows.size(); ++i) t.rows[i].labels.push_back(rows[i]->energy_method);
    t.title = "Energy";
    t.note = price > 0 ? fmt::format("Energy per generated token; $/1M tokens = J/token x 10^6 / 3.6 x 10^6 J/kWh x {} "
                                     "$/kWh (electricity only).", price)
                       : "Energy per generated token; cost needs --price-kwh.";
    return t;
  }

  StudyTable perplexity(const Rows& rows) const {
    StudyTable t = per_model(rows, {"PPL", "± (stderr)", "loss (nats)", "ΔPPL %", "tokens scored"},
                             {field(&Row::ppl, 3), field(&Row::ppl_stderr, 3),
                              [](const Row& r) { return r.ppl > 0 ? num(std::log(r.ppl), 4) : blank("no perplexity"); },
                              field(&Row::ppl_change_pct, 2),
                              field(&Row::tokens_scored, 0)});
    t.title = "Perplexity";
    t.note = fmt::format("{} protocol, ctx {}, `{}`{}; loss = ln PPL, the mean next-token cross-entropy.", opt.protocol,
                         opt.ctx, opt.text, opt.text_lines > 0 ? fmt::format(" (first {} lines)", opt.text_lines) : "");
    return t;
  }

  // Tables 7 and 8: eval_mc scores of one file.
  StudyTable mc_table(const Rows& rows, const std::string& file, std::function<McResult(const Row&)> get,
                      const std::string& flag) const {
    auto score = [get](double McResult::*f, bool gen) {
      return Col([get, f, gen](const Row& r) {
        const McResult m = get(r);
        return (gen ? m.n_gen : m.n_mc) ? num(m.*f, 4) : blank("no items");
      });
    };
    std::vector<Col> cols = {score(&McResult::acc, false), score(&McResult::acc_norm, false),
                             [get](const Row& r) { return num(get(r).n_mc, 0); },
                             score(&McResult::em_strict, true), score(&McResult::em_flexible, true),
                             [get](const Row& r) { return num(get(r).n_gen, 0); },
                             [get](const Row& r) { return num(get(r).skipped, 0); }};
    StudyTable t = per_model(rows, {"acc", "acc_norm", "MC items", "EM strict", "EM flexible", "generation items", "too long"},
                             cols, file.empty() ? "no " + flag + " file" : "");
    t.note = fmt::format("`{}`, {}-shot, scored as lm-evaluation-harness: acc (summed log-likelihood), acc_norm (per "
                         "character); generation items: exact match of the final number (strict `####`, flexible last "
                         "number).", file.empty() ? flag : file, opt.mc_fewshot);
    return t;
  }

  StudyTable reading(const Rows& rows) const {
    StudyTable t = per_model(rows, {"EM", "ΔEM", "F1", "ΔF1", "answered", "too long"},
                             {field(&Row::qa_em, 3), field(&Row::qa_em_change, 3),
                              field(&Row::qa_f1, 3), field(&Row::qa_f1_change, 3),
                              field(&Row::qa_n, 0), field(&Row::qa_skipped, 0)},
                             qa() ? "" : "no --qa file");
    t.title = "RAG reading comprehension";
    t.note = fmt::format("`{}`, first {} answerable questions, mode {}; SQuAD-normalized exact match and F1 (0-1) of "
                         "greedy answers; Δ = change vs base in absolute points.",
                         qa() ? opt.qa_file : "--qa", opt.qa_limit, opt.qa_mode);
    return t;
  }

  StudyTable preservation(const Rows& rows) const {
    StudyTable t = per_length(rows, {"gold share", "precision@1", "mean rank", "median rank", "Gini"},
                              {score_field(&QaScore::gold_attention_share, 4),
                               score_field(&QaScore::gold_precision_at_1, 3),
                               score_field(&QaScore::gold_rank, 2),
                               score_field(&QaScore::gold_rank_median, 1),
                               score_field(&QaScore::attention_gini, 4)});
    t.title = "Attention preservation";
    t.note = "At the token that predicts the answer: attention mass on the gold passage (mean over layers and heads), "
             "share of questions whose gold passage is the most attended (precision@1), mean and median gold rank "
             "among the passages, Gini coefficient of the passage shares (concentration).";
    return t;
  }

  StudyTable degradation(const Rows& rows) const {
    const int pos_tokens = position_tokens();
    std::vector<std::string> names = {"F1 slope/1K", "R^2", "p (slope)", "cliff tokens"};
    std::vector<Col> cols = {
        [](const Row& r) { const auto& d = r.qa_context.f1_degradation; return d.n >= 2 ? num(d.slope_per_1k, 4) : blank("< 2 lengths answered"); },
        [](const Row& r) { const auto& d = r.qa_context.f1_degradation; return d.n >= 2 ? num(d.r2, 3) : blank("< 2 lengths answered"); },
        [](const Row& r) { const auto& d = r.qa_context.f1_degradation; return d.n >= 3 ? num(d.p_value, 4) : blank("< 3 lengths answered"); },
        [](const Row& r) {
          const auto& d = r.qa_context.f1_degradation;
          return d.cliff_tokens ? num(d.cliff_tokens, 0) : blank("no length below half the shortest's F1");
        }};
    for (size_t i = 0; i < opt.qa_positions.size(); ++i) {
      names.push_back(fmt::format("F1 @pos {:g}", opt.qa_positions[i]));
      cols.push_back([i](const Row& r) {
        const QaScore& s = r.qa_positions.at(i);
        return s.n ? num(s.f1, 3) : blank(fmt::format("all {} prompts longer than the model's context", s.skipped));
      });
    }
    names.push_back("position spread");
    cols.push_back([](const Row& r) {
      double lo = 1e9, hi = -1e9;
      for (const QaScore& s : r.qa_positions)
        if (s.n) lo = std::min(lo, s.f1), hi = std::max(hi, s.f1);
      return hi >= lo ? num(hi - lo, 3) : blank("no position answered");
    });
    StudyTable t = per_model(rows, names, cols, lengths() ? "" : no_lengths());
    t.title = "Context degradation";
    t.note = fmt::format("F1 against context length: least-squares slope per 1K tokens, R^2, two-sided p of the slope "
                         "(Student t), cliff: the first length below half the shortest length's F1. Position effect: "
                         "F1 with the gold passage at relative position 0 (first) to 1 (last) of a {}-token context; "
                         "spread = best - worst position.", pos_tokens);
    return t;
  }

  StudyTable breakdown(const Rows& rows) const {
    std::vector<std::string> names;
    std::vector<Col> cols;
    const std::vector<int> lens = lengths() ? opt.qa_context_tokens : std::vector<int>{512, 1024, 2048, 4096};
    for (size_t i = 0; i < lens.size(); ++i)
      for (bool f1 : {false, true}) {
        names.push_back(fmt::format("{} @{}", f1 ? "F1" : "EM", lens[i]));
        cols.push_back([i, f1](const Row& r) {
          const QaScore& s = r.qa_context.scores.at(i);
          return s.n ? num(f1 ? s.f1 : s.em, 3) : blank(fmt::format("all {} prompts longer than the model's context", s.skipped));
        });
      }
    StudyTable t = per_model(rows, names, cols, lengths() ? "" : no_lengths());
    t.title = "Context-length breakdown";
    t.note = "The gold passage padded with distractor passages to each length (gold in the middle); padding stops when "
             "the file's distractors run out.";
    return t;
  }

  StudyTable drift(const Rows& rows) const {
    StudyTable t = per_length(rows, {"drift", "drift correct", "drift wrong", "correct", "answered"},
                              {score_field(&QaScore::attention_drift, 4),
                               [](const QaScore& s) { return s.n_correct ? num(s.drift_correct, 4) : blank("none correct"); },
                               [](const QaScore& s) { return s.n_correct < s.n ? num(s.drift_wrong, 4) : blank("none wrong"); },
                               score_field(&QaScore::n_correct, 0),
                               score_field(&QaScore::n, 0)});
    t.title = "Attention drift";
    t.note = "Change of the gold passage's attention share from the prompt end over the first generated tokens (up to "
             "8), its mean, and at correct (EM 1) and wrong answers.";
    return t;
  }

  StudyTable correlation(const Rows& rows) const {
    StudyTable t = per_length(rows, {"share-F1 Pearson", "share-F1 Spearman", "drift-F1 Pearson", "drift-F1 Spearman"},
                              {score_field(&QaScore::share_f1_pearson, 3),
                               score_field(&QaScore::share_f1_spearman, 3),
                               score_field(&QaScore::drift_f1_pearson, 3),
                               score_field(&QaScore::drift_f1_spearman, 3)});
    t.title = "Attention-quality correlation";
    t.note = "Across the answered questions: correlation of the gold share and of the drift with F1 (Spearman: ties at "
             "their average rank; 0 when either side is constant).";
    return t;
  }

  int position_tokens() const {
    return opt.qa_position_tokens > 0 ? opt.qa_position_tokens : (lengths() ? opt.qa_context_tokens.front() : 0);
  }

  // The fourteen measurements in the study's order.
  std::vector<StudyTable> measurements(const Rows& rows) const {
    std::vector<StudyTable> ts = {latency(rows), memory(rows), throughput(rows), batch(rows), energy(rows), perplexity(rows)};
    ts.push_back(mc_table(rows, opt.mc_file, [](const Row& r) {
      McResult m;
      m.acc = r.mc_acc, m.acc_norm = r.mc_acc_norm, m.n_mc = r.mc_n, m.em_strict = r.mc_em_strict;
      m.em_flexible = r.mc_em_flexible, m.n_gen = r.mc_gen_n, m.skipped = r.mc_skipped;
      return m;
    }, "--mc"));
    ts.back().title = "Reasoning";
    ts.push_back(mc_table(rows, opt.mc_knowledge_file, [](const Row& r) { return r.knowledge; }, "--mc-knowledge"));
    ts.back().title = "Knowledge";
    using Table = StudyTable (Builder::*)(const Rows&) const;
    for (Table f : {&Builder::reading, &Builder::preservation, &Builder::degradation, &Builder::breakdown,
                    &Builder::drift, &Builder::correlation})
      ts.push_back((this->*f)(rows));
    return ts;
  }
};

}  // namespace

std::vector<StudyTable> study_tables(const QuantReportOptions& opt, const QuantReport& rep) {
  // Tables 1-14: uncalibrated variants and calibrated ones on the first set; 15-28: the
  // base and every calibrated variant, with its calibration set as a label.
  const std::string first_set = rep.rows.empty() ? "" : [&] {
    for (const auto& r : rep.rows)
      if (!r.calib_set.empty()) return r.calib_set;
    return std::string();
  }();
  Rows main, twin;
  for (const auto& r : rep.rows) {
    if (r.calib_set.empty() || r.calib_set == first_set) main.push_back(&r);
    if (r.method == "none" || quant::calibrated_method(r.method)) twin.push_back(&r);
  }
  const Builder b{opt, rep};
  std::vector<StudyTable> out = b.measurements(main);
  std::vector<StudyTable> twins = b.measurements(twin);
  const std::string default_set = opt.quant.calib_file.empty() ? "held-out text" : "--calib";
  for (size_t i = 0; i < twins.size(); ++i) {
    StudyTable& t = twins[i];
    t.title += ": calibration-set comparison";
    t.note = fmt::format("Table {} for the base model and every calibrated method (gptq, awq, autoround) on each "
                         "calibration set{}. ",
                         i + 1, twin.size() > 1 ? "" : " (no calibrated method in --methods: the base row alone)") +
             t.note;
    t.labels.insert(t.labels.begin() + 1, "calibration set");
    size_t k = 0;
    for (const Row* r : twin) {
      const std::string set = r->method == "none" ? "none" : r->calib_set.empty() ? default_set : r->calib_set;
      // per_length tables may hold several rows per model.
      for (; k < t.rows.size() && t.rows[k].labels[0] == r->name; ++k) t.rows[k].labels.insert(t.rows[k].labels.begin() + 1, set);
    }
    out.push_back(std::move(t));
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].number = static_cast<int>(i) + 1;
  return out;
}

std::string table_markdown(const StudyTable& t) {
  std::string md = fmt::format("## Table {}: {}\n\n{}\n\n|", t.number, t.title, t.note), sep = "|";
  for (const auto& l : t.labels) md += " " + l + " |", sep += "---|";
  for (const auto& c : t.columns) md += " " + c + " |", sep += "---:|";
  md += "\n" + sep + "\n";
  for (const auto& r : t.rows) {
    md += "|";
    for (const auto& l : r.labels) md += " " + l + " |";
    for (const auto& c : r.cells) md += " " + c.text + " |";
    md += "\n";
  }
  return md;
}

std::string table_csv(const StudyTable& t) {
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string csv;
  auto line = [&](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::string l;
    for (const auto* v : {&a, &b})
      for (const auto& s : *v) l += (l.empty() ? "" : ",") + field(s);
    csv += l + "\n";
  };
  line(t.labels, t.columns);
  for (const auto& r : t.rows) {
    std::vector<std::string> cells;
    for (const auto& c : r.cells) cells.push_back(c.value ? fmt::format("{}", *c.value) : c.text);
    line(r.labels, cells);
  }
  return csv;
}

nlohmann::json table_json(const StudyTable& t) {
  nlohmann::json j = {{"number", t.number}, {"title", t.title}, {"note", t.note}, {"labels", t.labels},
                      {"columns", t.columns}, {"rows", nlohmann::json::array()}};
  for (const auto& r : t.rows) {
    nlohmann::json cells = nlohmann::json::array();
    for (const auto& c : r.cells) cells.push_back(c.value ? nlohmann::json(*c.value) : nlohmann::json(c.text));
    j["rows"].push_back({{"labels", r.labels}, {"cells", cells}});
  }
  return j;
}

}  // namespace edgerag
