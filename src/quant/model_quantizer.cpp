#include "quant/model_quantizer.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "format/gguf.h"
#include "model/model.h"
#include "quant/calib.h"
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

}  // namespace

const std::vector<std::string>& quant_methods() {
  static const std::vector<std::string> m{"rtn", "nf4", "hqq", "gptq", "awq"};
  return m;
}

QuantizeSummary quantize_model(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt) {
  Timer timer;
  const auto& methods = quant_methods();
  EDGERAG_CHECK(std::find(methods.begin(), methods.end(), opt.method) != methods.end(),
                "unknown quantization method '{}' (rtn, nf4, hqq, gptq, awq)", opt.method);
  EDGERAG_CHECK(opt.bits >= 2 && opt.bits <= 8, "--bits must be 2..8 (got {})", opt.bits);
  EDGERAG_CHECK(opt.group >= 32 && opt.group <= 256, "--group must be 32..256 (got {})", opt.group);
  const bool calibrated = opt.method == "gptq" || opt.method == "awq";
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
    calib = Calibration::run(*model, read_text(opt.calib_file), opt.calib_tokens, opt.calib_ctx, &pool);
    sum.calib_tokens = calib.tokens();
    log(LogLevel::Info, "calibration: {} tokens", calib.tokens());
  }

  std::map<std::string, std::vector<float>> floats;  // working copies (AWQ rescales them)
  auto weights_of = [&](const std::string& name) -> std::vector<float>& {
    auto it = floats.find(name);
    if (it == floats.end()) it = floats.emplace(name, to_floats(file->tensor(name))).first;
    return it->second;
  };
  std::map<std::string, QuantizedTensor> done;

  if (opt.method == "awq") {
    const HParams& hp = model->hparams();
    for (int32_t l = 0; l < hp.n_layer; ++l) {
      const std::string b = fmt::format("blk.{}.", l);
      struct Group { std::vector<std::string> members; std::string producer; bool producer_rows; };
      std::vector<Group> groups{{{"ffn_down.weight"}, "ffn_up.weight", true}};
      // o_proj's input channels map onto attn_v rows only without grouped KV heads.
      if (hp.n_head == hp.n_head_kv) groups.push_back({{"attn_output.weight"}, "attn_v.weight", true});
      groups.push_back({{"attn_q.weight", "attn_k.weight", "attn_v.weight"}, "attn_norm.weight", false});
      groups.push_back({{"ffn_gate.weight", "ffn_up.weight"}, "ffn_norm.weight", false});
      for (const auto& g : groups) {
        const InputStats* st = calib.find(b + g.members[0]);
        bool ok = st != nullptr && file->find_tensor(b + g.producer) != nullptr;
        for (const auto& m : g.members) ok = ok && file->find_tensor(b + m) && plans[b + m].by_method;
        if (!ok) continue;
        std::vector<AwqWeight> ws;
        for (const auto& m : g.members) {
          const auto& t = file->tensor(b + m);
          ws.push_back({weights_of(b + m).data(), t.ne[1], plans[b + m].scheme});
        }
        AwqResult r = awq_quantize(ws, st->cols, st->gram, st->absmean(), opt.awq, &pool);
        for (size_t i = 0; i < g.members.size(); ++i) done[b + g.members[i]] = std::move(r.quantized[i]);
        // Fold 1/s into whatever produces the input: norm weights or producer rows (and bias).
        auto& prod = weights_of(b + g.producer);
        const int64_t pc = g.producer_rows ? file->tensor(b + g.producer).ne[0] : 1;
        for (int64_t c = 0; c < st->cols; ++c)
          for (int64_t k = 0; k < pc; ++k) prod[c * pc + k] /= r.scales[c];
        const std::string bias = b + g.producer.substr(0, g.producer.size() - 6) + "bias";
        if (g.producer_rows && file->find_tensor(bias)) {
          auto& bv = weights_of(bias);
          for (int64_t c = 0; c < st->cols; ++c) bv[c] /= r.scales[c];
        }
        log(LogLevel::Debug, "awq {}{}: alpha {}, error {:.4g}", b, g.members[0], r.alpha, r.error);
      }
    }
  }

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
      const InputStats* st = calib.find(t.name);
      if (opt.method == "hqq") {
        q = quantize_hqq(p.scheme, x, rows, cols, opt.hqq, &pool);
      } else if (opt.method == "gptq" && st) {
        q = quantize_gptq(p.scheme, x, rows, cols, st->gram, opt.gptq, &pool);
      } else if (p.type == DType::ER_NF4_DQ) {
        q = quantize_reference(p.type, x, rows, cols);
      } else {
        if (calibrated) tc.note = opt.method == "awq" ? "AWQ: no foldable producer, plain RTN" : "no calibration data: RTN";
        q = quantize_rtn(p.scheme, x, rows, cols, &pool);
      }
      put(q.data.data(), q.data.size());
      method_elems[p.type] += t.n_elements();
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
  sum.file_bytes = std::filesystem::file_size(out_path);
  sum.seconds = timer.seconds();
  return sum;
}

}  // namespace edgerag::quant
