// edgerag quantize: RTN / NF4 / HQQ / GPTQ / AWQ quantization of a GGUF model.
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "quant/model_quantizer.h"

namespace edgerag::cli {
namespace {

struct Flags {
  std::string in, out;
  quant::QuantizeOptions opt;
  bool sym = false, asym = false, no_dq = false, json = false;
};

nlohmann::json summary_json(const quant::QuantizeSummary& s) {
  nlohmann::json j;
  j["method"] = s.method;
  j["n_params"] = s.n_params;
  j["tensor_bytes"] = s.tensor_bytes;
  j["file_bytes"] = s.file_bytes;
  j["bits_per_weight"] = s.bits_per_weight();
  j["method_bits_per_weight"] = s.method_bits();
  j["n_outliers"] = s.n_outliers;
  j["outlier_share"] = s.outlier_share();
  j["outlier_bits_per_weight"] = s.outlier_bits();
  j["calib_tokens"] = s.calib_tokens;
  j["seconds"] = s.seconds;
  for (const auto& t : s.tensors)
    j["tensors"].push_back({{"name", t.name}, {"type", dtype_name(t.type)}, {"bytes", t.bytes}, {"note", t.note}});
  return j;
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantize a GGUF model (rtn, nf4, hqq, gptq, awq, autoround, spqr)");
  auto f = std::make_shared<Flags>();
  cmd->add_option("-m,--model", f->in, "Input model (file or name)")->required();
  cmd->add_option("-o,--output", f->out, "Output GGUF file")->required();
  cmd->add_option("--method", f->opt.method, "rtn | nf4 | hqq | gptq | awq | autoround | spqr")->default_val("rtn");
  cmd->add_option("--bits", f->opt.bits, "Bits per weight code: 2, 3, 4, 5 or 8")->default_val(4);
  cmd->add_option("--group", f->opt.group, "Weights per scale (32, 64, 128; 16 with --bits 3: bilevel ER_Q3_G16_BL)")->default_val(32);
  cmd->add_flag("--sym", f->sym, "Symmetric codes (offset tied to the scale)");
  cmd->add_flag("--asym", f->asym, "Asymmetric codes (free per-group offset)");
  cmd->add_flag("--no-double-quant", f->no_dq, "nf4: keep one fp16 scale per group");
  cmd->add_option("--calib", f->opt.calib_file, "Calibration text (gptq, awq, autoround, spqr)");
  cmd->add_option("--calib-tokens", f->opt.calib_tokens, "Calibration tokens")->default_val(4096);
  cmd->add_option("--calib-ctx", f->opt.calib_ctx, "Tokens per calibration sequence")->default_val(256);
  cmd->add_option("--damp", f->opt.gptq.damp, "gptq: Hessian damping (fraction of mean diagonal)")->default_val(0.01);
  cmd->add_flag("--act-order", f->opt.gptq.act_order, "gptq: columns by decreasing activation energy");
  cmd->add_option("--awq-grid", f->opt.awq.grid, "awq: grid points of the scale exponent")->default_val(20);
  cmd->add_flag("!--no-awq-verify", f->opt.awq.verify,
                "awq: keep every kind of scaling, even where it raises the calibration loss");
  cmd->add_option("--iters", f->opt.autoround.iters, "autoround: signed-gradient steps per row")->default_val(50);
  cmd->add_option("--lr", f->opt.autoround.lr, "autoround: learning rate (linear decay to 0)")->default_val(5e-3);
  cmd->add_option("--nsamples", f->opt.autoround.nsamples,
                  "autoround: calibration sequences of --calib-ctx tokens (0: --calib-tokens)")
      ->default_val(64);
  cmd->add_option("--outliers", f->opt.spqr.outlier_share, "spqr: share of weights kept in the outlier side tensor (GPTQ sensitivity)")
      ->default_val(0.01);
  cmd->add_option("-t,--threads", f->opt.threads, "Threads (default: all cores)");
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f] {
    if (f->sym && f->asym) throw CLI::ValidationError("--sym and --asym exclude each other");
    f->opt.asymmetric = f->sym ? 0 : f->asym ? 1 : -1;
    f->opt.double_quant = !f->no_dq;
    const auto s = quant::quantize_model(resolve_model_flag(f->in), f->out, f->opt);
    if (f->json) {
      std::printf("%s\n", summary_json(s).dump(1).c_str());
      return;
    }
    std::map<std::string, int> types;
    for (const auto& t : s.tensors) types[dtype_name(t.type)]++;
    std::string mix;
    for (const auto& [name, n] : types) mix += fmt::format(" {}x{}", name, n);
    fmt::print("{}: {} -> {} bytes ({:.3f} bits/weight over {} parameters), types:{}, {:.2f} s\n", f->out, s.method,
               s.file_bytes, s.bits_per_weight(), s.n_params, mix, s.seconds);
    fmt::print("quantized weights: {:.3f} effective bits/weight (codes + group parameters + outliers) over {}",
               s.method_bits(), s.method_params);
    if (s.n_outliers)
      fmt::print(", {} outliers ({:.3f}%, side tensors {:.3f} bits/weight)", s.n_outliers, 100 * s.outlier_share(),
                 s.outlier_bits());
    fmt::print("\n");
    for (const auto& t : s.tensors)
      if (!t.note.empty()) fmt::print("  {:<28} {:<10} {}\n", t.name, dtype_name(t.type), t.note);
  });
}

}  // namespace
EDGERAG_COMMAND("quantize", setup);
}  // namespace edgerag::cli
