// The quantization study behind `edgerag report quant`: quantizes a base model
// with each method, measures every variant (size, bits per parameter,
// perplexity, optional QA EM/F1 and multiple-choice / GSM8K scores, latency,
// batch scaling, memory, energy) and writes the study's numbered tables
// (report_tables.h) as Markdown, CSV and JSON plus SVG plots, recording the
// machine and the equivalent CLI commands.
#pragma once
#include <string>
#include <vector>

#include "eval/mc.h"
#include "eval/qa.h"
#include "quant/model_quantizer.h"

namespace edgerag {

struct QuantReportOptions {
  std::string base;                 // F32/F16 GGUF
  std::vector<std::string> methods = {"rtn", "nf4", "hqq", "gptq", "awq", "autoround"};
  // bits, group, calibration (method is set per variant). gptq/awq/autoround calibrate on
  // quant.calib_file or, when empty, on the lines of `text` after the first
  // text_lines: held out from the perplexity text.
  quant::QuantizeOptions quant;
  // Calibration sets (name, text file): each calibrated method runs once per set,
  // rows named METHOD-Nb@NAME, the comparison the study makes (e.g. wikitext vs rag).
  // Empty = one run on quant.calib_file / the held-out lines.
  std::vector<std::pair<std::string, std::string>> calib_sets;
  std::string calib_from_index;     // edgerag index: its sampled chunk texts become the set "rag"
  std::string text;                 // perplexity text
  int text_lines = 0;               // use only the first N lines (0 = all)
  int64_t ctx = 128;
  std::string protocol = "chunked";
  int64_t ppl_tokens = 0;           // 0 = all
  int n_prompt = 128, n_gen = 32;
  std::vector<int> batches = {1, 2, 4, 8};
  double tdp_watts = 0;
  int threads = 0;
  double golden_ppl = 0;            // > 0: check the base model's perplexity against it (1%)
  std::string qa_file;              // SQuAD / NQ-open / RGB file for eval_qa; empty = no QA columns
  size_t qa_limit = 50;             // questions
  std::string qa_mode = "gold";     // closed | gold (the gold passage alone)
  // Gold passage padded to these lengths (context-length breakdown and degradation
  // statistics); qa_attention adds the attention tables. Needs qa_file.
  std::vector<int> qa_context_tokens;
  bool qa_attention = false;
  // Position effect (with qa_context_tokens): the gold passage at these relative
  // positions (0 = first, 1 = last) in a context of qa_position_tokens (0 = the first
  // of qa_context_tokens).
  std::vector<double> qa_positions = {0, 0.5, 1};
  int qa_position_tokens = 0;
  std::string mc_file;              // eval_mc JSONL (reasoning / knowledge); empty = no such columns
  size_t mc_limit = 0;              // items (0 = all)
  int mc_fewshot = 0;               // the first N items become the examples and are not scored
  std::string mc_knowledge_file;    // a second eval_mc file (MMLU, BoolQ shapes): the knowledge tables
  double price_kwh = 0;             // > 0: cost per million generated tokens from J/token
  bool roofline = false;            // measure the F32 GEMM peak (roofline.h): adds MFU columns
  std::string out_dir;
  std::string command_line;         // as typed, for the record
};

struct QuantReportRow {
  std::string name, method, path, main_type;
  std::string calib_set;            // calibrated methods with calib_sets: the set's name
  double quant_seconds = 0;
  size_t file_bytes = 0;
  int64_t n_params = 0;
  double bits_per_param = 0, compression = 1;
  // Quantized variants: effective bits per weight of the method-quantized matrices
  // (codes + group parameters + SpQR outliers) and the share of outliers.
  double matrix_bits = 0, outlier_share = 0;
  double ppl = 0, ppl_stderr = 0, ppl_change_pct = 0;
  int64_t tokens_scored = 0;
  double ttft_ms = 0, prefill_tok_s = 0, decode_tok_s = 0, peak_rss_mb = 0, energy_j_per_token = 0;
  std::string energy_method;
  std::vector<std::pair<int, double>> batch_tok_s;
  double qa_em = 0, qa_f1 = 0, qa_em_change = 0, qa_f1_change = 0;  // changes: absolute, vs base
  int qa_n = 0, qa_skipped = 0;
  QaResult qa_context;              // with qa_context_tokens: one score per length
  double mc_acc = 0, mc_acc_norm = 0, mc_em_strict = 0, mc_em_flexible = 0;
  int mc_n = 0, mc_gen_n = 0, mc_skipped = 0;
  McResult knowledge;               // mc_knowledge_file, mc_fewshot-shot from its own first items
  std::vector<QaScore> qa_positions;  // one per QuantReportOptions::qa_positions
  // Batch scaling: the batch size with the highest total decode tok/s, and there
  // tok/s(B) / (B x tok/s(1)) (0 when batch 1 was not measured).
  int optimal_batch = 0;
  double scaling_efficiency = 0;
  double mfu_prefill = 0, mfu_decode = 0;  // shares of QuantReport::peak_gflops (2 x n_params FLOPs per token)
};

struct QuantReport {
  std::vector<QuantReportRow> rows;
  bool golden_checked = false, golden_ok = false;
  double peak_gflops = 0;          // with QuantReportOptions::roofline
  std::vector<std::string> files;  // written
};

QuantReport run_quant_report(const QuantReportOptions& opt);

}  // namespace edgerag
