#include "quant/model_quantizer.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "format/gguf.h"
#include "model/model.h"
#include "quant/awq_block.h"
#include "quant/calib.h"
#include "tensor/sparse.h"
#include "tensor/edgerag_types.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timer.h"

namespace edgerag::quant {
namespace {

struct Plan {
  DType type = DType::F32;
  bool by_method = false;  // quantized with the chosen method (else rule / fallback)
  Scheme scheme;
  std::string note;
};

bool is_embedding_or_head(const std::string& name) { return name == "token_embd.weight" || name == "output.weight"; }

DType fallback_type(int64_t cols) { return cols % 32 == 0 ? DType::Q8_0 : DType::F16; }

Plan plan_tensor(const GgufTensor& t, const QuantizeOptions& opt, bool asym) {
  Plan p;
  const int64_t cols = t.ne[0];
  if (t.n_dims < 2) return p;  // norms and biases stay F32
  if (is_embedding_or_head(t.name)) {
    p.type = fallback_type(cols);
    p.note = "embedding/output kept at 8 bits";
    return p;
  }
  if (opt.method == "nf4") {
    if (cols % QK_NF4 != 0) {
      p.type = fallback_type(cols);
      p.note = fmt::format("row of {} is not a multiple of the NF4 group {}: fallback", cols, QK_NF4);
      return p;
    }
    const bool dq = opt.double_quant && cols % QK_NF4_DQ == 0;
    p.type = dq ? DType::ER_NF4_DQ : DType::ER_NF4;
    p.by_method = true;
    p.scheme = Scheme::of(DType::ER_NF4);
    if (opt.double_quant && !dq) p.note = fmt::format("row of {} is not a multiple of 256: scales not double-quantized", cols);
    return p;
  }
  if (opt.group == BL_GROUP) {  // bilevel ER_Q3_G16_BL: whole blocks of 64 or the usual fallback
    if (cols % QK_BL != 0) {
      p.type = fallback_type(cols);
      p.note = fmt::format("row of {} is not a multiple of the bilevel block {}: fallback", cols, QK_BL);
      return p;
    }
    p.type = DType::ER_Q3_G16_BL;
    p.scheme = Scheme::of(p.type);
    p.by_method = true;
    return p;
  }
  int g = opt.bits == 8 ? 32 : opt.group;
  while (cols % g != 0 && g > 32) g /= 2;
  if (cols % g != 0) {
    p.type = fallback_type(cols);
    p.note = fmt::format("row of {} fits no group of {} or less: fallback", cols, opt.group);
    return p;
  }
  p.type = storage_type(opt.bits, g, asym);
  p.scheme = Scheme::of(p.type, asym);
  p.by_method = true;
  if (g != opt.group && opt.bits != 8) p.note = fmt::format("group {} (row of {})", g, cols);
  return p;
}

int llama_file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q8_0: return 7;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    default: return 1024;  // llama.cpp's "guessed": not one of its presets
  }
}

std::vector<float> to_floats(const GgufTensor& t) {
  std::vector<float> out(t.n_elements());
  const size_t rb = row_size(t.type, t.ne[0]);
  for (int64_t r = 0; r < t.n_rows(); ++r) dequantize_row(t.type, t.data + r * rb, out.data() + r * t.ne[0], t.ne[0]);
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EDGERAG_CHECK(f, "cannot read calibration text {}", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// "attn_q.weight" -> "attn_q": a group of AWQ scaling named by its first member.
std::string awq_kind(const std::string& member) { return member.substr(0, member.find('.')); }

// AWQ layer by layer, consumers before producers, so that every fold lands in a
// float weight before that weight is itself searched and quantized:
//   attn_output  <- attn_v rows (GQA: one scale per v row, shared by the heads reading it)
//   ffn_down     <- ffn_up rows
//   attn_q/k/v   <- attn_norm, judged on the attention block output (through attn_output)
//   ffn_gate/up  <- ffn_norm, judged on the MLP block output (through ffn_down)
// After each search the members' float copies are multiplied by s, so the float
// model stays exactly the original function and later block objectives see it.
// `kinds` names the groups to scale by their first member ("attn_q", ...);
// returns the kinds that applied to at least one layer.
std::set<std::string> run_awq(const GgufFile& file, const HParams& hp, const Calibration& calib,
                              std::map<std::string, Plan>& plans, const std::set<std::string>& kinds,
                              const std::function<std::vector<float>&(const std::string&)>& weights_of,
                              std::map<std::string, QuantizedTensor>& done, const AwqOptions& opt, ThreadPool* pool) {
  // Model::forward applies Llama-3.1 rope_freqs, which the block evaluation does
  // not: such models are judged per linear layer.
  const bool block_attention = file.find_tensor("rope_freqs.weight") == nullptr;
  const int64_t HD = hp.head_dim, heads_per_kv = hp.n_head / hp.n_head_kv;
  std::set<std::string> applied;
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    auto has = [&](const std::string& n) { return file.find_tensor(b + n) != nullptr; };
    auto floats_of = [&](const std::string& n) -> const float* { return has(n) ? weights_of(b + n).data() : nullptr; };
    enum class Objective { Linear, Attention, Mlp };
    struct Group {
      std::vector<std::string> members;
      std::string producer;
      bool producer_rows;  // producer rows (a linear layer) or elements (a norm weight)
      Objective objective;
    };
    const std::vector<Group> groups{
        {{"attn_output.weight"}, "attn_v", true, Objective::Linear},
        {{"ffn_down.weight"}, "ffn_up", true, Objective::Linear},
        {{"attn_q.weight", "attn_k.weight", "attn_v.weight"}, "attn_norm", false,
         block_attention ? Objective::Attention : Objective::Linear},
        {{"ffn_gate.weight", "ffn_up.weight"}, "ffn_norm", false, Objective::Mlp}};
    for (const auto& g : groups) {
      const InputStats* st = calib.find(b + g.members[0]);
      bool ok = st != nullptr && has(g.producer + ".weight") && kinds.count(awq_kind(g.members[0]));
      for (const auto& m : g.members) ok = ok && has(m) && plans[b + m].by_method;
      if (!ok) continue;
      applied.insert(awq_kind(g.members[0]));
      const int64_t cols = st->cols;
      std::vector<AwqWeight> ws;
      for (const auto& m : g.members) ws.push_back({floats_of(m), file.tensor(b + m).ne[1], plans[b + m].scheme});
      // Producer row r feeds input channel channel_of(r): v row (kv head, d) feeds
      // the attn_output columns (h, d) of every head h reading that kv head.
      const bool gqa = g.members[0] == "attn_output.weight" && heads_per_kv > 1;
      auto channel_of = [&](int64_t r) { return gqa ? (r / HD) * heads_per_kv * HD + r % HD : r; };
      std::vector<float> x_absmean = st->absmean();
      if (gqa) {  // tie the heads of a KV group to their mean so they get one scale
        for (int64_t r = 0; r < hp.n_embd_kv(); ++r) {
          double sum = 0;
          for (int64_t k = 0; k < heads_per_kv; ++k) sum += x_absmean[channel_of(r) + k * HD];
          for (int64_t k = 0; k < heads_per_kv; ++k)
            x_absmean[channel_of(r) + k * HD] = static_cast<float>(sum / heads_per_kv);
        }
      }
      AwqObjective objective;
      const float* x = st->rows.data();
      if (g.objective == Objective::Attention) {
        const AttentionWeights aw{floats_of("attn_q.weight"),      floats_of("attn_k.weight"),
                                  floats_of("attn_v.weight"),      floats_of("attn_output.weight"),
                                  floats_of("attn_q.bias"),        floats_of("attn_k.bias"),
                                  floats_of("attn_v.bias"),        floats_of("attn_q_norm.weight"),
                                  floats_of("attn_k_norm.weight")};
        auto ref = std::make_shared<const std::vector<float>>(attention_block(hp, aw, x, calib.seq_lens(), pool));
        objective = [&, aw, ref, x](const std::vector<std::vector<float>>& w_hat) {
          AttentionWeights c = aw;
          c.wq = w_hat[0].data(), c.wk = w_hat[1].data(), c.wv = w_hat[2].data();
          return squared_error(attention_block(hp, c, x, calib.seq_lens(), pool), *ref);
        };
      } else if (g.objective == Objective::Mlp) {
        const float* down = floats_of("ffn_down.weight");
        auto ref = std::make_shared<const std::vector<float>>(
            mlp_block(hp, ws[0].w, ws[1].w, down, x, st->n, pool));
        objective = [&, down, ref, x, n = st->n](const std::vector<std::vector<float>>& w_hat) {
          return squared_error(mlp_block(hp, w_hat[0].data(), w_hat[1].data(), down, x, n, pool), *ref);
        };
      } else {
        objective = linear_output_objective(ws, cols, st->gram);
      }
      AwqResult r = awq_quantize(ws, cols, x_absmean, objective, opt, pool);
      for (size_t i = 0; i < g.members.size(); ++i) {
        done[b + g.members[i]] = std::move(r.quantized[i]);
        auto& w = weights_of(b + g.members[i]);
        for (size_t k = 0; k < w.size(); ++k) w[k] *= r.scales[k % cols];
      }
      // Fold 1/s into the producer: norm elements, or producer rows and their bias.
      auto fold = [&](const std::string& name, int64_t row_len) {
        if (!has(name)) return;
        auto& p = weights_of(b + name);
        for (int64_t row = 0; row < static_cast<int64_t>(p.size()) / row_len; ++row)
          for (int64_t k = 0; k < row_len; ++k) p[row * row_len + k] /= r.scales[channel_of(row)];
      };
      fold(g.producer + ".weight", g.producer_rows ? file.tensor(b + g.producer + ".weight").ne[0] : 1);
      if (g.producer_rows) fold(g.producer + ".bias", 1);
      log(LogLevel::Debug, "awq {}{}: alpha {}, block error {:.4g} (s = 1: {:.4g})", b, g.members[0], r.alpha, r.error,
          r.rtn_error);
    }
  }
  return applied;
}

}  // namespace

bool calibrated_method(const std::string& method) {
  return method == "gptq" || method == "awq" || method == "autoround" || method == "spqr";
}

const std::vector<std::string>& quant_methods() {
  static const std::vector<std::string> m{"rtn", "nf4", "hqq", "gptq", "awq", "autoround", "spqr"};
  return m;
}

QuantizeSummary quantize_model(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt) {
  Timer timer;
  const auto& methods = quant_methods();
  EDGERAG_CHECK(std::find(methods.begin(), methods.end(), opt.method) != methods.end(),
                "unknown quantization method '{}' (rtn, nf4, hqq, gptq, awq, autoround, spqr)", opt.method);
  EDGERAG_CHECK(opt.bits >= 2 && opt.bits <= 8, "--bits must be 2..8 (got {})", opt.bits);
  EDGERAG_CHECK((opt.group >= 32 && opt.group <= 256) || opt.group == BL_GROUP,
                "--group must be 32..256, or 16 for bilevel 3-bit (got {})", opt.group);
  EDGERAG_CHECK(opt.group != BL_GROUP || (opt.bits == 3 && (opt.method == "rtn" || opt.method == "gptq" ||
                                                            opt.method == "spqr")),
                "--group 16 is the bilevel ER_Q3_G16_BL type: --bits 3 with --method rtn, gptq or spqr (got {}-bit {})",
                opt.bits, opt.method);
  const bool calibrated = calibrated_method(opt.method);
  EDGERAG_CHECK(!calibrated || !opt.calib_file.empty(), "--method {} needs calibration text (--calib FILE)",
                opt.method);
  const bool asym = opt.asymmetric >= 0 ? opt.asymmetric != 0 : (opt.method == "hqq" || opt.method == "awq");

  std::shared_ptr<const GgufFile> file(GgufFile::open(in_path));
  ThreadPool pool(opt.threads > 0 ? opt.threads : default_thread_count());
  QuantizeSummary sum;
  sum.method = opt.method;

  std::map<std::string, Plan> plans;
  for (const auto& t : file->tensors()) plans[t.name] = plan_tensor(t, opt, asym);

  Calibration calib;
  std::unique_ptr<Model> model;
  if (calibrated) {
    model = Model::from_gguf(file);
    const int64_t calib_tokens =
        opt.method == "autoround" && opt.autoround.nsamples > 0 ? opt.autoround.nsamples * opt.calib_ctx : opt.calib_tokens;
    calib = Calibration::run(*model, read_text(opt.calib_file), calib_tokens, opt.calib_ctx, &pool);
    sum.calib_tokens = calib.tokens();
    log(LogLevel::Info, "calibration: {} tokens", calib.tokens());
  }

  // Writes out_path with the AWQ scaling kinds `awq_kinds` (ignored by other methods).
  // Returns the kinds that applied.
  auto write_model = [&](const std::set<std::string>& awq_kinds) {
    std::set<std::string> applied;
    sum.tensors.clear();
    sum.n_params = 0;
    sum.tensor_bytes = 0;
    sum.method_params = 0;
    sum.method_bytes = 0;
    sum.n_outliers = 0;
    sum.outlier_bytes = 0;
    std::map<std::string, std::vector<float>> floats;  // working copies (AWQ rescales them)
    auto weights_of = [&](const std::string& name) -> std::vector<float>& {
      auto it = floats.find(name);
      if (it == floats.end()) it = floats.emplace(name, to_floats(file->tensor(name))).first;
      return it->second;
    };
    std::map<std::string, QuantizedTensor> done;

    if (opt.method == "awq")
      applied = run_awq(*file, model->hparams(), calib, plans, awq_kinds, weights_of, done, opt.awq, &pool);

    GgufWriter w;
    std::map<DType, int64_t> method_elems;
    for (const auto& t : file->tensors()) {
      const Plan& p = plans[t.name];
      TensorChoice tc{t.name, p.type, t.n_elements(), 0, p.note};
      const std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
      const int64_t rows = t.n_rows(), cols = t.ne[0];
      auto put = [&](const void* data, size_t n) {
        w.add_tensor(t.name, tc.type, ne, data, n);
        tc.bytes = n;
      };
      if (auto it = done.find(t.name); it != done.end()) {
        put(it->second.data.data(), it->second.data.size());
      } else if (!p.by_method && p.type == DType::F32 && !floats.count(t.name) && t.type == DType::F32) {
        put(t.data, t.nbytes);
      } else if (!p.by_method) {
        const auto q = quantize_reference(p.type, weights_of(t.name).data(), rows, cols);
        put(q.data.data(), q.data.size());
      } else {
        const float* x = weights_of(t.name).data();
        QuantizedTensor q;
        size_t outlier_bytes = 0;
        const InputStats* st = calib.find(t.name);
        if (opt.method == "hqq") {
          q = quantize_hqq(p.scheme, x, rows, cols, opt.hqq, &pool);
        } else if (opt.method == "gptq" && st) {
          q = quantize_gptq(p.scheme, x, rows, cols, st->gram, opt.gptq, &pool);
        } else if (opt.method == "spqr" && st) {
          SpqrTensor sq = quantize_spqr(p.scheme, x, rows, cols, st->gram, opt.gptq, opt.spqr, &pool);
          q = std::move(sq.dense);
          const size_t ob = sq.outliers.size();
          w.add_tensor(t.name + kOutlierSuffix, DType::I8, {static_cast<int64_t>(ob)}, sq.outliers.data(), ob);
          outlier_bytes = ob;
          sum.n_outliers += sq.n_outliers;
          sum.outlier_bytes += ob;
          tc.note = fmt::format("{} outliers ({:.2f}%) in {}{}", sq.n_outliers, 100.0 * sq.n_outliers / t.n_elements(),
                                t.name, kOutlierSuffix);
        } else if (opt.method == "autoround" && st && !p.scheme.nf4) {
          q = quantize_autoround(p.scheme, x, rows, cols, st->gram, opt.autoround, &pool);
        } else if (p.type == DType::ER_NF4_DQ) {
          q = quantize_reference(p.type, x, rows, cols);
        } else {
          if (calibrated)
            tc.note = opt.method == "awq"
                          ? "AWQ: plain RTN (no foldable producer, or scaling raised the calibration loss)"
                          : "no calibration data: RTN";
          q = quantize_rtn(p.scheme, x, rows, cols, &pool);
        }
        put(q.data.data(), q.data.size());
        tc.bytes += outlier_bytes;
        method_elems[p.type] += t.n_elements();
      }
      if (p.by_method) {  // AWQ's matrices come quantized in `done`
        sum.method_params += t.n_elements();
        sum.method_bytes += tc.bytes;
      }
      floats.erase(t.name);
      sum.n_params += tc.n_elements;
      sum.tensor_bytes += tc.bytes;
      sum.tensors.push_back(std::move(tc));
    }
    DType main_type = DType::F32;
    int64_t most = 0;
    for (const auto& [type, n] : method_elems)
      if (n > most) most = n, main_type = type;
    w.set_u32("general.file_type", static_cast<uint32_t>(llama_file_type(main_type)));
    w.set_u32("general.quantization_version", 2);
    w.set_string("edgerag.quantize.method", opt.method);
    w.set_u32("edgerag.quantize.bits", static_cast<uint32_t>(opt.bits));
    w.set_u32("edgerag.quantize.group", static_cast<uint32_t>(opt.group));
    w.set_string("edgerag.quantize.type", dtype_name(main_type));
    w.copy_metadata(*file);
    w.write(out_path);
    return applied;
  };
  const std::set<std::string> all_kinds{"attn_output", "ffn_down", "attn_q", "ffn_gate"};
  if (opt.method == "awq" && opt.awq.verify) {
    // The block objective is a proxy: on small models a scaling that lowers every
    // block's error can still raise the model's loss. Starting from s = 1 (RTN),
    // add each kind of scaling in turn (consumers first, as the folds go) and keep
    // it only if the whole quantized model's calibration loss drops, so AWQ never
    // fits its calibration text worse than RTN. Costs one quantization and
    // calibration pass per kind.
    std::set<std::string> keep, written = keep;  // `written`: the kinds of the file on disk
    write_model(keep);
    double best = calib.loss(*Model::load(out_path), &pool);
    log(LogLevel::Info, "awq verify: calibration loss {:.5f} with s = 1", best);
    for (const char* kind : {"attn_output", "ffn_down", "attn_q", "ffn_gate"}) {
      std::set<std::string> trial = keep;
      trial.insert(kind);
      written = trial;
      if (write_model(trial).count(kind) == 0) continue;  // no layer has this kind of group
      const double l = calib.loss(*Model::load(out_path), &pool);
      log(LogLevel::Info, "awq verify: + {} scaling: {:.5f} ({})", kind, l, l < best ? "kept" : "dropped");
      if (l < best) keep = trial, best = l;
    }
    if (written != keep) write_model(keep);
  } else {
    write_model(all_kinds);
  }
  sum.file_bytes = std::filesystem::file_size(out_path);
  sum.seconds = timer.seconds();
  return sum;
}

}  // namespace edgerag::quant
