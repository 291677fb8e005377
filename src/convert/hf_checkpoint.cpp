#include "convert/hf_checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numbers>

#include "format/json_file.h"
#include "format/safetensors.h"
#include "tensor/fp16.h"
#include "tokenizer/tokenizer_json.h"
#include "util/error.h"

namespace edgerag {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- config.json ----------------------------------------------------------

int64_t cfg_int(const json& c, const std::string& key, const std::string& where, int64_t def = -1) {
  if (!c.contains(key) || c[key].is_null()) {
    EDGERAG_CHECK(def >= 0, "{}: missing '{}'", where, key);
    return def;
  }
  EDGERAG_CHECK(c[key].is_number_integer() && c[key].get<int64_t>() > 0 && c[key].get<int64_t>() < (int64_t{1} << 31),
                "{}: '{}' must be a positive integer (is {})", where, key, c[key].dump());
  return c[key].get<int64_t>();
}

double cfg_float(const json& c, const std::string& key, const std::string& where, double def) {
  if (!c.contains(key) || c[key].is_null()) return def;
  EDGERAG_CHECK(c[key].is_number(), "{}: '{}' must be a number (is {})", where, key, c[key].dump());
  return c[key].get<double>();
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

enum class QuantMethod { None, Awq, Gptq };

struct QuantConfig {
  QuantMethod method = QuantMethod::None;
  int bits = 16;
  int64_t group = 0;      // inputs per group; 0 = all inputs (group_size -1)
  bool zero_stored_minus_one = false;  // GPTQ v1 stores zero - 1
};

// quantization_config of config.json, else AutoGPTQ's quantize_config.json or
// AutoAWQ's quant_config.json (older exports).
QuantConfig read_quant_config(const json& config, const std::string& dir) {
  json q;
  std::string where = dir + "/config.json quantization_config";
  std::string implied;
  if (config.contains("quantization_config") && config["quantization_config"].is_object()) {
    q = config["quantization_config"];
  } else if (fs::exists(fs::path(dir) / "quantize_config.json")) {
    where = dir + "/quantize_config.json";
    q = read_json_file(where);
    implied = "gptq";
  } else if (fs::exists(fs::path(dir) / "quant_config.json")) {
    where = dir + "/quant_config.json";
    q = read_json_file(where);
    implied = "awq";
  } else {
    return {};
  }
  EDGERAG_CHECK(q.is_object(), "{}: not an object", where);
  const std::string method = lower(q.value("quant_method", implied));
  QuantConfig qc;
  const auto get_int = [&](std::initializer_list<const char*> keys, int64_t def) {
    for (const char* k : keys)
      if (q.contains(k)) {
        EDGERAG_CHECK(q[k].is_number_integer(), "{}: '{}' must be an integer", where, k);
        return q[k].get<int64_t>();
      }
    return def;
  };
  qc.bits = static_cast<int>(get_int({"bits", "w_bit"}, 4));
  const int64_t group = get_int({"group_size", "q_group_size"}, 128);
  EDGERAG_CHECK(group == -1 || group > 0, "{}: bad group_size {}", where, group);
  qc.group = group < 0 ? 0 : group;
  if (method == "awq") {
    qc.method = QuantMethod::Awq;
    const std::string version = lower(q.value("version", "gemm"));
    EDGERAG_CHECK(version == "gemm", "{}: AWQ version '{}' is not supported (gemm)", where, version);
    EDGERAG_CHECK(q.value("zero_point", true), "{}: AWQ without zero points is not supported", where);
    EDGERAG_CHECK(qc.bits == 4, "{}: AWQ with {} bits is not supported (4)", where, qc.bits);
  } else if (method == "gptq") {
    qc.method = QuantMethod::Gptq;
    EDGERAG_CHECK(qc.bits == 2 || qc.bits == 4 || qc.bits == 8, "{}: GPTQ with {} bits is not supported (2, 4, 8)",
                  where, qc.bits);
    const std::string format = lower(q.value("checkpoint_format", "gptq"));
    EDGERAG_CHECK(format == "gptq" || format == "gptq_v2", "{}: GPTQ checkpoint_format '{}' is not supported", where,
                  format);
    qc.zero_stored_minus_one = format == "gptq";
  } else {
    fail("{}: quant_method '{}' is not supported (awq, gptq)", where, method);
  }
  return qc;
}

// ---- quantized linear layers ------------------------------------------------

// A linear layer's quantization in plain arrays: code and group per weight,
// zero and scale per (group, output).
struct QuantLinear {
  int64_t in = 0, out = 0, groups = 0;
  int bits = 4;
  std::vector<uint8_t> codes;   // [out][in]
  std::vector<int32_t> g_idx;   // [in]
  std::vector<uint8_t> zeros;   // [groups][out]
  std::vector<float> scales;    // [groups][out]

  float weight(int64_t o, int64_t i) const {
    const size_t gi = static_cast<size_t>(g_idx[i]) * out + o;
    return (static_cast<float>(codes[o * in + i]) - zeros[gi]) * scales[gi];
  }
};

void check_shape(const StTensor& t, std::vector<int64_t> shape, const std::string& dir) {
  EDGERAG_CHECK(t.shape == shape, "{}: tensor '{}' has shape {}, expected {}", dir, t.name, t.shape_string(),
                StTensor{"", StDType::F32, shape, nullptr, 0}.shape_string());
}

void check_i32(const StTensor& t, const std::string& dir) {
  EDGERAG_CHECK(t.dtype == StDType::I32, "{}: tensor '{}' must be I32 (is {})", dir, t.name, st_dtype_name(t.dtype));
}

std::vector<float> read_scales(const StTensor& t, int64_t groups, int64_t out, const std::string& dir) {
  check_shape(t, {groups, out}, dir);
  std::vector<float> s(static_cast<size_t>(groups * out));
  for (int64_t k = 0; k < groups * out; ++k) s[k] = st_float_at(t, k);
  return s;
}

// Runs fn(begin, end) over [0, n) on the pool if any.
void for_rows(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (!pool) return fn(0, n);
  pool->parallel_for(static_cast<size_t>(n), [&](int, size_t b, size_t e) { fn(static_cast<int64_t>(b), static_cast<int64_t>(e)); });
}

// AutoAWQ GEMM: qweight I32 [in, out/8] and qzeros I32 [in/group, out/8] pack
// eight 4-bit values of consecutive outputs per word, output 8c + kAwqOrder[k]
// in bits [4k, 4k + 4); scales [in/group, out]; w = (q - z) * s.
constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

QuantLinear read_awq(const SafetensorsSet& st, const std::string& prefix, int64_t in, int64_t out,
                     const QuantConfig& qc, ThreadPool* pool) {
  const std::string& dir = st.dir();
  const int64_t group = qc.group ? qc.group : in;
  EDGERAG_CHECK(out % 8 == 0 && in % group == 0, "{}: '{}' ({} x {}) does not fit AWQ packing with group {}", dir,
                prefix, out, in, group);
  QuantLinear q;
  q.in = in, q.out = out, q.bits = 4, q.groups = in / group;
  const StTensor& qw = st.tensor(prefix + ".qweight");
  const StTensor& qz = st.tensor(prefix + ".qzeros");
  check_i32(qw, dir), check_i32(qz, dir);
  check_shape(qw, {in, out / 8}, dir);
  check_shape(qz, {q.groups, out / 8}, dir);
  q.scales = read_scales(st.tensor(prefix + ".scales"), q.groups, out, dir);
  q.codes.resize(static_cast<size_t>(in * out));
  for_rows(pool, in, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      for (int64_t c = 0; c < out / 8; ++c) {
        const auto word = static_cast<uint32_t>(st_i32_at(qw, i * (out / 8) + c));
        for (int k = 0; k < 8; ++k) q.codes[(c * 8 + kAwqOrder[k]) * in + i] = (word >> (4 * k)) & 15;
      }
  });
  q.zeros.resize(static_cast<size_t>(q.groups * out));
  for (int64_t g = 0; g < q.groups; ++g)
    for (int64_t c = 0; c < out / 8; ++c) {
      const auto word = static_cast<uint32_t>(st_i32_at(qz, g * (out / 8) + c));
      for (int k = 0; k < 8; ++k) q.zeros[g * out + c * 8 + kAwqOrder[k]] = (word >> (4 * k)) & 15;
    }
  q.g_idx.resize(in);
  for (int64_t i = 0; i < in; ++i) q.g_idx[i] = static_cast<int32_t>(i / group);
  return q;
}

// AutoGPTQ / Optimum: qweight I32 [in * bits / 32, out] packs 32 / bits
// consecutive inputs per word, input i in bits [(i % per) * bits, ...) of row
// i / per; qzeros I32 [groups, out * bits / 32] packs outputs the same way;
// scales [groups, out]; g_idx I32 [in] gives each input's group (not monotonic
// with act-order). v1 checkpoints store zero - 1.
QuantLinear read_gptq(const SafetensorsSet& st, const std::string& prefix, int64_t in, int64_t out,
                      const QuantConfig& qc, ThreadPool* pool) {
  const std::string& dir = st.dir();
  const int per = 32 / qc.bits;
  const uint32_t mask = (1u << qc.bits) - 1;
  EDGERAG_CHECK(in % per == 0 && out % per == 0, "{}: '{}' ({} x {}) does not fit {}-bit GPTQ packing", dir, prefix,
                out, in, qc.bits);
  QuantLinear q;
  q.in = in, q.out = out, q.bits = qc.bits;
  const StTensor& qw = st.tensor(prefix + ".qweight");
  const StTensor& qz = st.tensor(prefix + ".qzeros");
  const StTensor& sc = st.tensor(prefix + ".scales");
  check_i32(qw, dir), check_i32(qz, dir);
  check_shape(qw, {in / per, out}, dir);
  EDGERAG_CHECK(sc.shape.size() == 2 && sc.shape[0] > 0, "{}: tensor '{}' must be [groups, {}]", dir, sc.name, out);
  q.groups = sc.shape[0];
  q.scales = read_scales(sc, q.groups, out, dir);
  check_shape(qz, {q.groups, out / per}, dir);

  q.g_idx.resize(in);
  if (const StTensor* gi = st.find(prefix + ".g_idx")) {
    check_i32(*gi, dir);
    check_shape(*gi, {in}, dir);
    for (int64_t i = 0; i < in; ++i) {
      q.g_idx[i] = st_i32_at(*gi, i);
      EDGERAG_CHECK(q.g_idx[i] >= 0 && q.g_idx[i] < q.groups, "{}: '{}' g_idx[{}] = {} is outside [0, {})", dir,
                    gi->name, i, q.g_idx[i], q.groups);
    }
  } else {
    const int64_t group = qc.group ? qc.group : in;
    EDGERAG_CHECK((in + group - 1) / group == q.groups, "{}: '{}' has {} scale groups, group_size {} needs {}", dir,
                  prefix, q.groups, group, (in + group - 1) / group);
    for (int64_t i = 0; i < in; ++i) q.g_idx[i] = static_cast<int32_t>(i / group);
  }

  q.codes.resize(static_cast<size_t>(in * out));
  for_rows(pool, in / per, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t o = 0; o < out; ++o) {
        const auto word = static_cast<uint32_t>(st_i32_at(qw, r * out + o));
        for (int k = 0; k < per; ++k) q.codes[o * in + r * per + k] = (word >> (qc.bits * k)) & mask;
      }
  });
  q.zeros.resize(static_cast<size_t>(q.groups * out));
  for (int64_t g = 0; g < q.groups; ++g)
    for (int64_t c = 0; c < out / per; ++c) {
      const auto word = static_cast<uint32_t>(st_i32_at(qz, g * (out / per) + c));
      for (int k = 0; k < per; ++k) {
        const uint32_t z = (word >> (qc.bits * k)) & mask;
        // v1: zero - 1 was stored with wrap-around, so adding 1 back is modulo 2^bits.
        q.zeros[g * out + c * per + k] = static_cast<uint8_t>(qc.zero_stored_minus_one ? (z + 1) & mask : z);
      }
    }
  return q;
}

// One converted GGUF tensor.
struct Encoded {
  DType type = DType::F32;
  std::vector<uint8_t> bytes;
};


// GGUF rows (output r reads source output perm[r], identity when perm is empty)
// in the type the layout allows; see the header comment.
Encoded encode_quant(const QuantLinear& q, const std::vector<int64_t>& perm, ThreadPool* pool) {
  const int64_t in = q.in, out = q.out;
  bool blocks_share_group = in % QK4_1 == 0;
  for (int64_t i = 0; blocks_share_group && i < in; ++i) blocks_share_group = q.g_idx[i] == q.g_idx[i - i % QK4_1];
  const bool zero_128 = std::all_of(q.zeros.begin(), q.zeros.end(), [](uint8_t z) { return z == 128; });
  Encoded e;
  if (blocks_share_group && q.bits <= 4) e.type = DType::Q4_1;
  else if (blocks_share_group && q.bits == 8 && zero_128) e.type = DType::Q8_0;
  else if (in % QK8_0 == 0) e.type = DType::Q8_0;  // requantized
  else e.type = DType::F16;
  const bool exact = blocks_share_group && (q.bits <= 4 || zero_128);
  const size_t row_bytes = row_size(e.type, in);
  e.bytes.resize(row_bytes * static_cast<size_t>(out));
  for_rows(pool, out, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = perm.empty() ? r : perm[r];
      uint8_t* dst = e.bytes.data() + static_cast<size_t>(r) * row_bytes;
      if (exact) {
        for (int64_t b = 0; b < in / 32; ++b) {
          const size_t gi = static_cast<size_t>(q.g_idx[b * 32]) * out + o;
          const float s = q.scales[gi];
          const uint8_t* codes = &q.codes[o * in + b * 32];
          if (e.type == DType::Q4_1) {
            // w = s * q - s * z: d = s, m = -s * z rounded to fp16 (the only rounding).
            BlockQ4_1 blk;
            blk.d = fp32_to_fp16(s);
            blk.m = fp32_to_fp16(-s * static_cast<float>(q.zeros[gi]));
            for (int j = 0; j < 16; ++j) blk.qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + 16] << 4));
            std::memcpy(dst + b * sizeof(BlockQ4_1), &blk, sizeof blk);
          } else {
            BlockQ8_0 blk;
            blk.d = fp32_to_fp16(s);
            for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<int8_t>(codes[j] - 128);
            std::memcpy(dst + b * sizeof(BlockQ8_0), &blk, sizeof blk);
          }
        }
        continue;
      }
      for (int64_t i = 0; i < in; ++i) row[i] = q.weight(o, i);
      if (e.type == DType::F16) {
        for (int64_t i = 0; i < in; ++i) {
          const uint16_t h = fp32_to_fp16(row[i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
      } else {
        quantize_row(e.type, row.data(), dst, in);
      }
    }
  });
  return e;
}

// An unquantized [out, in] matrix in its own float type, rows permuted.
Encoded encode_plain(const StTensor& t, int64_t in, int64_t out, const std::vector<int64_t>& perm,
                     const std::string& dir) {
  check_shape(t, {out, in}, dir);
  Encoded e;
  switch (t.dtype) {
    case StDType::F16: e.type = DType::F16; break;
    case StDType::BF16: e.type = DType::BF16; break;
    case StDType::F32: e.type = DType::F32; break;
    default: fail("{}: tensor '{}' has dtype {} (F16, BF16 or F32 expected)", dir, t.name, st_dtype_name(t.dtype));
  }
  const size_t row_bytes = static_cast<size_t>(in) * st_dtype_size(t.dtype);
  e.bytes.resize(row_bytes * static_cast<size_t>(out));
  for (int64_t r = 0; r < out; ++r)
    std::memcpy(e.bytes.data() + r * row_bytes, t.data + (perm.empty() ? r : perm[r]) * row_bytes, row_bytes);
  return e;
}

// A 1-D tensor of n values as F32, permuted like the rows it belongs to.
std::vector<float> read_vector(const StTensor& t, int64_t n, const std::vector<int64_t>& perm, const std::string& dir) {
  check_shape(t, {n}, dir);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) v[k] = st_float_at(t, perm.empty() ? k : perm[k]);
  return v;
}

// convert_hf_to_gguf's llama permute: Hugging Face keeps each head's rotated
// pairs as (i, i + d/2) (rotate_half); GGUF llama rows hold them adjacent.
// GGUF row h*d + i comes from Hugging Face row h*d + (i % 2) * d/2 + i / 2.
std::vector<int64_t> rope_interleave_perm(int64_t n_heads, int64_t head_dim) {
  std::vector<int64_t> perm(static_cast<size_t>(n_heads * head_dim));
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < head_dim; ++i) perm[h * head_dim + i] = h * head_dim + (i % 2) * (head_dim / 2) + i / 2;
  return perm;
}

// Llama-3 rope_scaling as GGUF rope_freqs.weight: per rotated pair the divisor
// of its frequency (1 for short wavelengths, factor for long ones, a smooth
// blend between), as transformers' llama3 rope initialisation computes it.
std::vector<float> llama3_rope_factors(const json& rs, double base, int64_t head_dim, const std::string& where) {
  const double factor = cfg_float(rs, "factor", where, 8.0);
  const double low = cfg_float(rs, "low_freq_factor", where, 1.0);
  const double high = cfg_float(rs, "high_freq_factor", where, 4.0);
  const double old_ctx = cfg_float(rs, "original_max_position_embeddings", where, 8192.0);
  EDGERAG_CHECK(factor > 0 && low > 0 && high > low && old_ctx > 0, "{}: bad llama3 rope_scaling {}", where, rs.dump());
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  std::vector<float> out;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(base, static_cast<double>(i) / head_dim);
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(static_cast<float>(factor));
    } else {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      out.push_back(static_cast<float>(1.0 / ((1 - smooth) / factor + smooth)));
    }
  }
  return out;
}

struct ArchInfo {
  const char* hf;    // config.json architectures[0]
  const char* gguf;  // general.architecture
};
constexpr ArchInfo kArchs[] = {
    {"LlamaForCausalLM", "llama"}, {"Qwen2ForCausalLM", "qwen2"}, {"Qwen3ForCausalLM", "qwen3"}};

class Converter {
 public:
  Converter(const std::string& dir, GgufWriter& w, ThreadPool* pool)
      : dir_(dir), w_(w), pool_(pool), st_(SafetensorsSet::open_dir(dir)) {}

  HfConvertSummary run() {
    const std::string cfg_path = (fs::path(dir_) / "config.json").string();
    const json c = read_json_file(cfg_path);
    EDGERAG_CHECK(c.is_object(), "{}: not a JSON object", cfg_path);
    std::string hf_arch = c.contains("architectures") && c["architectures"].is_array() && !c["architectures"].empty() &&
                                  c["architectures"][0].is_string()
                              ? c["architectures"][0].get<std::string>()
                              : "";
    const ArchInfo* arch = nullptr;
    for (const auto& a : kArchs)
      if (hf_arch == a.hf) arch = &a;
    EDGERAG_CHECK(arch, "{}: architecture '{}' is not supported (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)",
                  cfg_path, hf_arch);
    const std::string a = arch->gguf;
    summary_.arch = a;
    qc_ = read_quant_config(c, dir_);
    summary_.quantization = qc_.method == QuantMethod::Awq ? "awq" : qc_.method == QuantMethod::Gptq ? "gptq" : "none";
    summary_.bits = qc_.bits;
    summary_.group_size = static_cast<int>(qc_.group);

    const int64_t E = cfg_int(c, "hidden_size", cfg_path), F = cfg_int(c, "intermediate_size", cfg_path);
    const int64_t L = cfg_int(c, "num_hidden_layers", cfg_path), H = cfg_int(c, "num_attention_heads", cfg_path);
    const int64_t Hkv = cfg_int(c, "num_key_value_heads", cfg_path, H);
    const int64_t D = cfg_int(c, "head_dim", cfg_path, E / H);
    EDGERAG_CHECK(H % Hkv == 0 && D % 2 == 0 && D > 0, "{}: inconsistent heads ({} / {} kv, head_dim {})", cfg_path, H,
                  Hkv, D);
    const double base = cfg_float(c, "rope_theta", cfg_path, 10000.0);

    const StTensor& emb = st_.tensor("model.embed_tokens.weight");
    EDGERAG_CHECK(emb.shape.size() == 2 && emb.shape[1] == E, "{}: model.embed_tokens.weight has shape {}, expected [vocab, {}]",
                  dir_, emb.shape_string(), E);
    const int64_t V = emb.shape[0];
    if (c.contains("vocab_size"))
      EDGERAG_CHECK(cfg_int(c, "vocab_size", cfg_path) == V, "{}: vocab_size {} but the embeddings have {} rows",
                    cfg_path, c["vocab_size"].dump(), V);

    w_.set_string("general.architecture", a);
    w_.set_string("general.name", c.value("_name_or_path", fs::path(dir_).filename().string()));
    w_.set_string("edgerag.checkpoint.quantization", summary_.quantization);
    w_.set_u32(a + ".context_length", static_cast<uint32_t>(cfg_int(c, "max_position_embeddings", cfg_path, 2048)));
    w_.set_u32(a + ".embedding_length", static_cast<uint32_t>(E));
    w_.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(F));
    w_.set_u32(a + ".block_count", static_cast<uint32_t>(L));
    w_.set_u32(a + ".attention.head_count", static_cast<uint32_t>(H));
    w_.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(Hkv));
    w_.set_u32(a + ".attention.key_length", static_cast<uint32_t>(D));
    w_.set_u32(a + ".attention.value_length", static_cast<uint32_t>(D));
    w_.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(D));
    w_.set_f32(a + ".rope.freq_base", static_cast<float>(base));
    w_.set_f32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(cfg_float(c, "rms_norm_eps", cfg_path, 1e-6)));
    w_.set_u32(a + ".vocab_size", static_cast<uint32_t>(V));

    if (c.contains("rope_scaling") && c["rope_scaling"].is_object()) {
      const json& rs = c["rope_scaling"];
      const std::string type = rs.value("rope_type", rs.value("type", "default"));
      if (type == "linear") {
        w_.set_string(a + ".rope.scaling.type", "linear");
        w_.set_f32(a + ".rope.scaling.factor", static_cast<float>(cfg_float(rs, "factor", cfg_path, 1.0)));
      } else if (type == "llama3" && a == "llama") {
        const auto factors = llama3_rope_factors(rs, base, D, cfg_path);
        add_tensor("rope_freqs.weight", DType::F32, {static_cast<int64_t>(factors.size())}, factors.data(),
                   factors.size() * 4);
      } else if (type != "default") {
        fail("{}: rope_scaling type '{}' is not supported for {} (linear, llama3 for llama)", cfg_path, type, a);
      }
    }

    tokenizer_json_to_gguf(dir_, V, w_);

    add_encoded("token_embd.weight", encode_plain(emb, E, V, {}, dir_), E, V);
    const bool tied = c.value("tie_word_embeddings", false) || !has_linear("lm_head");
    if (!tied) add_linear("output.weight", "lm_head", E, V, {});
    add_vector("output_norm.weight", "model.norm.weight", E, {});

    const bool llama = a == "llama";
    const auto q_perm = llama ? rope_interleave_perm(H, D) : std::vector<int64_t>{};
    const auto k_perm = llama ? rope_interleave_perm(Hkv, D) : std::vector<int64_t>{};
    for (int64_t l = 0; l < L; ++l) {
      const std::string hf = fmt::format("model.layers.{}.", l), gg = fmt::format("blk.{}.", l);
      add_vector(gg + "attn_norm.weight", hf + "input_layernorm.weight", E, {});
      add_vector(gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight", E, {});
      add_linear(gg + "attn_q.weight", hf + "self_attn.q_proj", E, H * D, q_perm);
      add_linear(gg + "attn_k.weight", hf + "self_attn.k_proj", E, Hkv * D, k_perm);
      add_linear(gg + "attn_v.weight", hf + "self_attn.v_proj", E, Hkv * D, {});
      add_linear(gg + "attn_output.weight", hf + "self_attn.o_proj", H * D, E, {});
      add_linear(gg + "ffn_gate.weight", hf + "mlp.gate_proj", E, F, {});
      add_linear(gg + "ffn_up.weight", hf + "mlp.up_proj", E, F, {});
      add_linear(gg + "ffn_down.weight", hf + "mlp.down_proj", F, E, {});
      const bool bias_required = a == "qwen2";
      add_optional_vector(gg + "attn_q.bias", hf + "self_attn.q_proj.bias", H * D, q_perm, bias_required);
      add_optional_vector(gg + "attn_k.bias", hf + "self_attn.k_proj.bias", Hkv * D, k_perm, bias_required);
      add_optional_vector(gg + "attn_v.bias", hf + "self_attn.v_proj.bias", Hkv * D, {}, bias_required);
      if (a == "qwen3") {
        add_vector(gg + "attn_q_norm.weight", hf + "self_attn.q_norm.weight", D, {});
        add_vector(gg + "attn_k_norm.weight", hf + "self_attn.k_norm.weight", D, {});
      }
    }
    return summary_;
  }

 private:
  bool has_linear(const std::string& prefix) const {
    return st_.find(prefix + ".weight") || st_.find(prefix + ".qweight");
  }

  void add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, const void* data, size_t nbytes) {
    w_.add_tensor(name, type, std::move(ne), data, nbytes);
    ++summary_.type_counts[dtype_name(type)];
  }

  void add_encoded(const std::string& name, const Encoded& e, int64_t cols, int64_t rows) {
    add_tensor(name, e.type, {cols, rows}, e.bytes.data(), e.bytes.size());
  }

  // A linear layer: quantized when `prefix`.qweight exists (modules the
  // quantizer skipped keep a plain `prefix`.weight).
  void add_linear(const std::string& name, const std::string& prefix, int64_t in, int64_t out,
                  const std::vector<int64_t>& perm) {
    if (st_.find(prefix + ".qweight")) {
      EDGERAG_CHECK(qc_.method != QuantMethod::None, "{}: '{}.qweight' but config.json has no quantization_config",
                    dir_, prefix);
      const QuantLinear q = qc_.method == QuantMethod::Awq ? read_awq(st_, prefix, in, out, qc_, pool_)
                                                           : read_gptq(st_, prefix, in, out, qc_, pool_);
      add_encoded(name, encode_quant(q, perm, pool_), in, out);
    } else {
      add_encoded(name, encode_plain(st_.tensor(prefix + ".weight"), in, out, perm, dir_), in, out);
    }
  }

  void add_vector(const std::string& name, const std::string& hf, int64_t n, const std::vector<int64_t>& perm) {
    const auto v = read_vector(st_.tensor(hf), n, perm, dir_);
    add_tensor(name, DType::F32, {n}, v.data(), v.size() * 4);
  }

  void add_optional_vector(const std::string& name, const std::string& hf, int64_t n, const std::vector<int64_t>& perm,
                           bool required) {
    if (required || st_.find(hf)) add_vector(name, hf, n, perm);
  }

  std::string dir_;
  GgufWriter& w_;
  ThreadPool* pool_;
  SafetensorsSet st_;
  QuantConfig qc_;
  HfConvertSummary summary_;
};

}  // namespace

bool is_hf_checkpoint(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::exists(fs::path(path) / "config.json", ec);
}

HfConvertSummary convert_hf_checkpoint(const std::string& dir, GgufWriter& w, ThreadPool* pool) {
  EDGERAG_CHECK(is_hf_checkpoint(dir), "{}: not a checkpoint directory (no config.json)", dir);
  try {
    return Converter(dir, w, pool).run();
  } catch (const json::exception& e) {  // a JSON value of the wrong kind
    fail("{}: malformed checkpoint metadata: {}", dir, e.what());
  }
}

std::shared_ptr<const GgufFile> open_hf_checkpoint(const std::string& dir) {
  std::string tmp_dir = (fs::temp_directory_path() / "edgerag-checkpoint-XXXXXX").string();
  EDGERAG_CHECK(::mkdtemp(tmp_dir.data()) != nullptr, "{}: cannot create a temporary directory", tmp_dir);
  // Named after the checkpoint so messages about the mapped file say which model it is.
  const std::string path = tmp_dir + "/" + fs::path(dir).lexically_normal().filename().string() + ".gguf";
  std::shared_ptr<const GgufFile> file;
  try {
    {
      GgufWriter w;
      ThreadPool pool(default_thread_count());
      convert_hf_checkpoint(dir, w, &pool);
      w.write(path);
    }  // frees the writer's copy of the tensors before the file is loaded
    file = GgufFile::open(path, FileAccess::kPreferHugePages);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);  // the open file (mapped or copied) keeps the data
  return file;
}

std::shared_ptr<const GgufFile> open_model_file(const std::string& path) {
  if (is_hf_checkpoint(path)) return open_hf_checkpoint(path);
  return GgufFile::open(path, FileAccess::kPreferHugePages);
}

}  // namespace edgerag
