#include "synth/synth.h"

#include <cmath>
#include <cstdio>
#include <map>

#include "format/gguf.h"
#include "synth/synth_vocab.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace edgerag {

const std::vector<SynthPreset>& synth_presets() {
  // Shapes from the models' published configs (config.json / GGUF metadata).
  // name, arch, vocab, embd, layers, heads, kv heads, head dim, ffn, ctx, rope base, eps, tied, pooling, vocab style
  static const std::vector<SynthPreset> presets = {
      {"qwen2.5-0.5b", "qwen2", 151936, 896, 24, 14, 2, 64, 4864, 32768, 1e6f, 1e-6f, true, 0, "qwen2"},
      {"qwen2.5-7b", "qwen2", 152064, 3584, 28, 28, 4, 128, 18944, 32768, 1e6f, 1e-6f, false, 0, "qwen2"},
      {"mistral-7b", "llama", 32000, 4096, 32, 32, 8, 128, 14336, 32768, 1e4f, 1e-5f, false, 0, "llama-spm"},
      {"qwen3-0.6b", "qwen3", 151936, 1024, 28, 16, 8, 128, 3072, 40960, 1e6f, 1e-6f, true, 0, "qwen2"},
      {"llama-3.2-1b", "llama", 128256, 2048, 16, 32, 8, 64, 8192, 131072, 5e5f, 1e-5f, true, 0, "llama3"},
      {"smollm2-135m", "llama", 49152, 576, 30, 9, 3, 64, 1536, 8192, 1e5f, 1e-5f, true, 0, "smollm"},
      {"tinyllama-1.1b", "llama", 32000, 2048, 22, 32, 4, 64, 5632, 2048, 1e4f, 1e-5f, false, 0, "llama-spm"},
      {"all-minilm-l6-v2", "bert", 30522, 384, 6, 12, 12, 32, 1536, 512, 0, 1e-12f, false, 1, "bert-bge"},
      {"bge-small-en-v1.5", "bert", 30522, 384, 12, 12, 12, 32, 1536, 512, 0, 1e-12f, false, 2, "bert-bge"},
      {"ms-marco-minilm-l6", "bert", 30522, 384, 6, 12, 12, 32, 1536, 512, 0, 1e-12f, false, 4, "bert-bge"},
      // gte-modernbert-base: rope base 160000 global / 10000 local, window 128, CLS pooling.
      {"modernbert", "modern-bert", 50368, 768, 22, 12, 12, 64, 1152, 8192, 1.6e5f, 1e-5f, false, 2, "modern-bert",
       128},
      // Small shapes for tests: the real vocabularies, everything else tiny.
      {"tiny-llama", "llama", 32000, 64, 2, 4, 2, 16, 128, 512, 1e4f, 1e-5f, false, 0, "llama-spm"},
      {"tiny-qwen2", "qwen2", 50257, 64, 2, 4, 2, 16, 128, 512, 1e6f, 1e-6f, true, 0, "gpt-2"},
      {"tiny-qwen3", "qwen3", 50257, 64, 2, 4, 2, 16, 128, 512, 1e6f, 1e-6f, true, 0, "gpt-2"},
      {"tiny-bert", "bert", 30522, 64, 2, 4, 4, 16, 128, 128, 0, 1e-12f, false, 1, "bert-bge"},
      {"tiny-rerank", "bert", 30522, 64, 2, 4, 4, 16, 128, 128, 0, 1e-12f, false, 4, "bert-bge"},
      {"tiny-modernbert", "modern-bert", 1024, 64, 4, 4, 4, 16, 96, 1024, 1.6e5f, 1e-5f, false, 1, "modern-bert", 16},
  };
  return presets;
}

const SynthPreset& synth_preset(const std::string& name) {
  std::string names;
  for (const auto& p : synth_presets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  fail("synth: unknown preset '{}' (known: {})", name, names);
}

namespace {
// llama-quantize's use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }
}  // namespace

DType synth_tensor_type(DType type, const std::string& name, int n_dims, int64_t cols, bool is_output,
                        int64_t q4_k_m_layers) {
  // llama-quantize leaves 1-D tensors, norms and BERT position / token-type tables alone.
  if (n_dims < 2 || type == DType::F32 || name == "position_embd.weight" || name == "token_types.weight" ||
      name.find("_norm.weight") != std::string::npos)
    return DType::F32;
  if (type == DType::F16 || type == DType::BF16) return type;
  // The output projection (or the tied embedding) gets Q6_K for 4-bit files in
  // llama-quantize; edgerag writes Q8_0 there (its fallback for 6-bit rows).
  DType t = (is_output && type != DType::Q8_0 && type != DType::Q6_K) ? DType::Q8_0 : type;
  if (q4_k_m_layers > 0 && type == DType::Q4_K) {  // Q4_K_M: 6 bits where llama-quantize spends them
    long long layer = -1;
    const bool more = name.ends_with("attn_v.weight") || name.ends_with("ffn_down.weight");
    if (is_output || (more && std::sscanf(name.c_str(), "blk.%lld.", &layer) == 1 && use_more_bits(layer, q4_k_m_layers)))
      t = DType::Q6_K;
  }
  if (cols % QK_K != 0) {  // llama-quantize's K-quant fallbacks
    if (t == DType::Q4_K) t = DType::Q5_0;
    if (t == DType::Q5_K) t = DType::Q5_1;
    if (t == DType::Q6_K) t = DType::Q8_0;
  }
  if (cols % dtype_traits(t).block_size != 0) t = DType::F16;
  return t;
}

namespace {

struct Spec {
  std::string name;
  std::vector<int64_t> ne;
  float mean, std;
};

// Tensors of a model with their random scales: matrices ~ 1/sqrt(fan_in) keep
// activations O(1) through any depth; norm weights 1 +- 0.1; small biases.
std::vector<Spec> tensor_specs(const SynthPreset& p, const std::string& arch) {
  const int64_t E = p.n_embd, F = p.n_ff, V = p.n_vocab;
  const float s_e = 1.0f / std::sqrt(static_cast<float>(E)), s_f = 1.0f / std::sqrt(static_cast<float>(F));
  std::vector<Spec> v;
  auto norm = [&](const std::string& n, int64_t len) { v.push_back({n, {len}, 1.0f, 0.1f}); };
  auto bias = [&](const std::string& n, int64_t len, float sd = 0.02f) { v.push_back({n, {len}, 0.0f, sd}); };
  if (arch == "bert") {
    v.push_back({"token_embd.weight", {E, V}, 0, 0.5f});
    v.push_back({"token_types.weight", {E, 2}, 0, 0.1f});
    v.push_back({"position_embd.weight", {E, p.n_ctx}, 0, 0.1f});
    norm("token_embd_norm.weight", E);
    bias("token_embd_norm.bias", E);
    for (int64_t l = 0; l < p.n_layer; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
        v.push_back({b + m + ".weight", {E, E}, 0, s_e});
        bias(b + m + ".bias", E);
      }
      norm(b + "attn_output_norm.weight", E);
      bias(b + "attn_output_norm.bias", E);
      v.push_back({b + "ffn_up.weight", {E, F}, 0, s_e});
      bias(b + "ffn_up.bias", F);
      v.push_back({b + "ffn_down.weight", {F, E}, 0, s_f});
      bias(b + "ffn_down.bias", E);
      norm(b + "layer_output_norm.weight", E);
      bias(b + "layer_output_norm.bias", E);
    }
    if (p.pooling == 4) {
      v.push_back({"cls.weight", {E, E}, 0, s_e});
      bias("cls.bias", E);
      v.push_back({"cls.output.weight", {E, 1}, 0, 2 * s_e});
      bias("cls.output.bias", 1);
    }
    return v;
  }
  if (arch == "modern-bert") {  // no biases, like the converted gte-modernbert-base
    v.push_back({"token_embd.weight", {E, V}, 0, 0.5f});
    norm("token_embd_norm.weight", E);
    for (int64_t l = 0; l < p.n_layer; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      if (l > 0) norm(b + "attn_norm.weight", E);  // layer 0's attention norm is an identity
      v.push_back({b + "attn_qkv.weight", {E, 3 * E}, 0, s_e});
      v.push_back({b + "attn_output.weight", {E, E}, 0, s_e});
      norm(b + "ffn_norm.weight", E);
      v.push_back({b + "ffn_up.weight", {E, 2 * F}, 0, s_e});
      v.push_back({b + "ffn_down.weight", {F, E}, 0, s_f});
    }
    norm("output_norm.weight", E);
    return v;
  }
  const int64_t D = p.head_dim, Q = p.n_head * D, KV = p.n_head_kv * D;
  // Logits = W_out . RMSNorm(x): std ~3 makes next-token distributions peaked like a trained model's.
  v.push_back({"token_embd.weight", {E, V}, 0, p.tied ? 3 * s_e : 1.0f});
  norm("output_norm.weight", E);
  if (!p.tied) v.push_back({"output.weight", {E, V}, 0, 3 * s_e});
  for (int64_t l = 0; l < p.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    norm(b + "attn_norm.weight", E);
    v.push_back({b + "attn_q.weight", {E, Q}, 0, s_e});
    v.push_back({b + "attn_k.weight", {E, KV}, 0, s_e});
    v.push_back({b + "attn_v.weight", {E, KV}, 0, s_e});
    if (arch == "qwen2") {
      bias(b + "attn_q.bias", Q, 0.05f);
      bias(b + "attn_k.bias", KV, 0.05f);
      bias(b + "attn_v.bias", KV, 0.05f);
    }
    if (arch == "qwen3") {
      norm(b + "attn_q_norm.weight", D);
      norm(b + "attn_k_norm.weight", D);
    }
    v.push_back({b + "attn_output.weight", {Q, E}, 0, 1.0f / std::sqrt(static_cast<float>(Q))});
    norm(b + "ffn_norm.weight", E);
    v.push_back({b + "ffn_gate.weight", {E, F}, 0, s_e});
    v.push_back({b + "ffn_up.weight", {E, F}, 0, s_e});
    v.push_back({b + "ffn_down.weight", {F, E}, 0, s_f});
  }
  return v;
}

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hash_name(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a, seeded
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Approximately normal draws: the sum of four 16-bit uniforms (Irwin-Hall,
// rescaled to unit variance, tails cut at 3.5 sigma) costs one 64-bit random per
// value. Every row has its own stream, so the output does not depend on the
// thread count.
void fill_normal(float* out, int64_t n, uint64_t state, float mean, float std) {
  constexpr float kScale = 1.7320508f / 65536.0f;  // sqrt(12 / 4) per 16-bit unit
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = splitmix64(state);
    const auto sum = static_cast<int32_t>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48));
    out[i] = mean + std * (static_cast<float>(sum - 131070) * kScale);
  }
}

void write_hparams(GgufWriter& w, const SynthPreset& p, const std::string& arch) {
  const std::string a = arch + ".";
  w.set_u32(a + "context_length", static_cast<uint32_t>(p.n_ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(p.n_embd));
  w.set_u32(a + "block_count", static_cast<uint32_t>(p.n_layer));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(p.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(p.n_head));
  if (arch == "bert") {
    w.set_f32(a + "attention.layer_norm_epsilon", p.norm_eps);
    w.set_bool(a + "attention.causal", false);
    w.set_u32(a + "pooling_type", static_cast<uint32_t>(p.pooling));
    return;
  }
  if (arch == "modern-bert") {  // the keys llama.cpp's converter writes for gte-modernbert-base
    w.set_f32(a + "rope.freq_base", p.rope_base);
    w.set_f32(a + "rope.freq_base_swa", 10000.0f);
    w.set_f32(a + "attention.layer_norm_epsilon", p.norm_eps);
    w.set_bool(a + "attention.causal", false);
    w.set_u32(a + "pooling_type", static_cast<uint32_t>(p.pooling));
    w.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(p.n_swa));
    w.set_u32(a + "attention.sliding_window_pattern", 3);
    w.set_string(a + "rope.scaling.type", "none");
    w.set_string(a + "hidden_activation", "gelu");
    w.set_u32(a + "vocab_size", static_cast<uint32_t>(p.n_vocab));
    return;
  }
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(p.n_head_kv));
  w.set_f32(a + "rope.freq_base", p.rope_base);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", p.norm_eps);
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(p.head_dim));
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(p.n_vocab));
  if (p.head_dim * p.n_head != p.n_embd) {  // e.g. qwen3-0.6b: 16 heads of 128 over 1024
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(p.head_dim));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(p.head_dim));
  }
}

// general.file_type (llama_ftype) of a file quantized to `type`.
uint32_t file_type(DType type, bool q4_k_m) {
  if (q4_k_m) return 15;  // MOSTLY_Q4_K_M
  switch (type) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::Q4_K: return 14;  // MOSTLY_Q4_K_S: one K-quant type throughout
    case DType::Q5_K: return 16;  // MOSTLY_Q5_K_S
    case DType::Q6_K: return 18;
    case DType::BF16: return 32;
    default: fail("synth: type {} is not one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k", dtype_name(type));
  }
}

}  // namespace

SynthReport synth_model(const SynthOptions& opts, const std::string& out_path) {
  const SynthPreset& p = synth_preset(opts.preset);
  const std::string arch = opts.arch.empty() ? p.arch : opts.arch;
  const auto is_encoder = [](const std::string& a) { return a == "bert" || a == "modern-bert"; };
  EDGERAG_CHECK(arch == "llama" || arch == "qwen2" || arch == "qwen3" || is_encoder(arch),
                "synth: unknown architecture '{}' (llama, qwen2, qwen3, bert, modern-bert)", arch);
  EDGERAG_CHECK(is_encoder(arch) ? arch == p.arch : !is_encoder(p.arch),
                "synth: preset {} is a {} shape, not usable as {}", p.name, p.arch, arch);
  EDGERAG_CHECK(!opts.q4_k_m || opts.type == DType::Q4_K, "synth: the Q4_K_M mix needs type q4_k");
  const uint32_t ftype = file_type(opts.type, opts.q4_k_m);

  GgufWriter w;
  w.set_string("general.architecture", arch);
  w.set_string("general.name", "synth-" + p.name);
  w.set_string("general.description",
               fmt::format("SYNTHETIC random weights in the shape of {} (seed {}); not a trained model", p.name,
                           opts.seed));
  write_hparams(w, p, arch);
  w.set_u32("general.file_type", ftype);
  if (opts.type != DType::F32 && opts.type != DType::F16) w.set_u32("general.quantization_version", 2);
  write_synth_vocab(w, p.vocab, p.n_vocab, opts.vocab_dir);

  ThreadPool pool(opts.n_threads > 0 ? opts.n_threads : default_thread_count());
  SynthReport report;
  std::map<std::string, int> counts;
  const bool has_output = !is_encoder(arch) && !p.tied;
  for (const Spec& s : tensor_specs(p, arch)) {
    const int64_t cols = s.ne[0], rows = s.ne.size() > 1 ? s.ne[1] : 1;
    const bool is_output = s.name == "output.weight" || (s.name == "token_embd.weight" && !has_output);
    const int n_dims = rows > 1 ? 2 : 1;  // ggml_n_dims: [E, 1] counts as 1-D
    const DType t = synth_tensor_type(opts.type, s.name, n_dims, cols, is_output, opts.q4_k_m ? p.n_layer : 0);
    const size_t rb = row_size(t, cols);
    std::vector<uint8_t> data(rb * static_cast<size_t>(rows));
    const uint64_t seed = hash_name(opts.seed, s.name);
    pool.parallel_for(static_cast<size_t>(rows), [&](int, size_t r0, size_t r1) {
      std::vector<float> row(cols);
      for (size_t r = r0; r < r1; ++r) {
        fill_normal(row.data(), cols, seed ^ (r * 0xD1B54A32D192ED03ull), s.mean, s.std);
        quantize_row(t, row.data(), data.data() + r * rb, cols);
      }
    }, 64);
    w.add_tensor(s.name, t, s.ne, data.data(), data.size());
    report.n_params += cols * rows;
    report.file_bytes += data.size();
    counts[dtype_name(t)]++;
  }
  w.write(out_path);
  report.type_counts.assign(counts.begin(), counts.end());
  return report;
}

}  // namespace edgerag
