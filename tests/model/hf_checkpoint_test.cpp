// Hugging Face checkpoints: known GGUF models are exported as safetensors +
// config.json + tokenizer.json, with the linear layers quantized and packed by
// the reference AWQ / GPTQ packers below (the published layouts, written
// independently of the loader). Loading the checkpoint must give exactly the
// GGUF tensors a direct construction from the same codes, scales and zeros
// gives, hence the same logits and greedy tokens.
#include "convert/hf_checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <numeric>
#include <random>

#include "hf_tokenizer_export.h"
#include "model/model.h"
#include "synth/synth_vocab.h"
#include "safetensors_writer.h"
#include "tensor/fp16.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/paths.h"

namespace edgerag {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct QuantSpec {
  std::string method = "none";  // none | awq | gptq
  int bits = 4;
  int group = 32;
  bool sym = false;        // GPTQ symmetric: zero = 2^(bits-1)
  bool act_order = false;  // GPTQ desc_act: g_idx is a shuffled assignment
  bool v2 = false;         // GPTQ checkpoint_format gptq_v2 (zeros stored as is)
  bool sharded = false;    // two shards + model.safetensors.index.json
  std::string embed_dtype = "F32";  // F32 | F16 | BF16
};

// One linear layer quantized per (group, output) with min/max asymmetric codes
// (or symmetric ones), in Hugging Face row order.
struct RefQuant {
  int64_t in = 0, out = 0, groups = 0;
  int bits = 4;
  std::vector<uint8_t> q;       // [out][in]
  std::vector<uint8_t> z;       // [groups][out]
  std::vector<uint16_t> s;      // [groups][out], fp16
  std::vector<int32_t> g_idx;   // [in]
  float deq(int64_t o, int64_t i) const {
    const size_t gi = static_cast<size_t>(g_idx[i]) * out + o;
    return (static_cast<float>(q[o * in + i]) - static_cast<float>(z[gi])) * fp16_to_fp32(s[gi]);
  }
};

RefQuant quantize(const std::vector<float>& w, int64_t in, int64_t out, const QuantSpec& spec, std::mt19937& rng) {
  RefQuant r;
  r.in = in, r.out = out, r.bits = spec.bits, r.groups = in / spec.group;
  r.g_idx.resize(in);
  if (spec.act_order) {  // GPTQ desc_act: g_idx[perm[k]] = k / group for a column order perm
    std::vector<int32_t> perm(in);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int64_t k = 0; k < in; ++k) r.g_idx[perm[k]] = static_cast<int32_t>(k / spec.group);
  } else {
    for (int64_t i = 0; i < in; ++i) r.g_idx[i] = static_cast<int32_t>(i / spec.group);
  }
  const int maxq = (1 << spec.bits) - 1;
  r.q.resize(in * out);
  r.z.resize(r.groups * out);
  r.s.resize(r.groups * out);
  for (int64_t g = 0; g < r.groups; ++g)
    for (int64_t o = 0; o < out; ++o) {
      float lo = 0, hi = 0;
      for (int64_t i = 0; i < in; ++i)
        if (r.g_idx[i] == g) lo = std::min(lo, w[o * in + i]), hi = std::max(hi, w[o * in + i]);
      int zero = 0;
      float scale;
      if (spec.sym) {
        zero = 1 << (spec.bits - 1);
        scale = std::max(hi, -lo) / (zero - 1);
      } else {
        scale = (hi - lo) / maxq;
      }
      scale = std::max(scale, 1e-6f);
      const uint16_t s16 = fp32_to_fp16(scale);
      const float sf = fp16_to_fp32(s16);
      if (!spec.sym) zero = std::clamp(static_cast<int>(std::lround(-lo / sf)), 0, maxq);
      r.s[g * out + o] = s16;
      r.z[g * out + o] = static_cast<uint8_t>(zero);
      for (int64_t i = 0; i < in; ++i)
        if (r.g_idx[i] == g)
          r.q[o * in + i] =
              static_cast<uint8_t>(std::clamp(static_cast<int>(std::lround(w[o * in + i] / sf)) + zero, 0, maxq));
    }
  return r;
}

// The packers below are written from the published format descriptions, not
// from the loader: PackersFollowThePublishedLayouts pins them to words worked
// out by hand, so a wrong constant in the loader fails the checkpoint tests.

// AutoAWQ GEMM (WQLinear_GEMM.from_linear): qweight int32 [in, out/8] and
// qzeros int32 [groups, out/8]; each word holds eight 4-bit values of outputs
// 8c..8c+7, the even outputs in nibbles 0-3 and the odd ones in nibbles 4-7
// (AutoAWQ's order_map [0, 2, 4, 6, 1, 3, 5, 7]).
int awq_nibble_output(int nibble) { return nibble < 4 ? 2 * nibble : 2 * (nibble - 4) + 1; }

template <typename F>
uint32_t awq_word(F value, int64_t c) {  // value(output) -> code
  uint32_t word = 0;
  for (int k = 0; k < 8; ++k) word |= (value(8 * c + awq_nibble_output(k)) & 15u) << (4 * k);
  return word;
}

void pack_awq(const RefQuant& r, const std::string& p, std::vector<test::StEntry>& out) {
  std::vector<int32_t> qw(r.in * r.out / 8), qz(r.groups * r.out / 8);
  for (int64_t i = 0; i < r.in; ++i)
    for (int64_t c = 0; c < r.out / 8; ++c)
      qw[i * (r.out / 8) + c] =
          static_cast<int32_t>(awq_word([&](int64_t o) -> uint32_t { return r.q[o * r.in + i]; }, c));
  for (int64_t g = 0; g < r.groups; ++g)
    for (int64_t c = 0; c < r.out / 8; ++c)
      qz[g * (r.out / 8) + c] =
          static_cast<int32_t>(awq_word([&](int64_t o) -> uint32_t { return r.z[g * r.out + o]; }, c));
  out.push_back(test::st_entry(p + ".qweight", "I32", {r.in, r.out / 8}, qw));
  out.push_back(test::st_entry(p + ".qzeros", "I32", {r.groups, r.out / 8}, qz));
  out.push_back(test::st_entry(p + ".scales", "F16", {r.groups, r.out}, r.s));
}

// AutoGPTQ (QuantLinear.pack): sequential packing, value j of a word in bits
// [bits*j, bits*(j+1)). qweight int32 [in*bits/32, out]: word (row, o) holds
// inputs row*per .. row*per+per-1 of output o. qzeros int32 [groups,
// out*bits/32]: outputs packed the same way; checkpoint format v1 (gptq) stores
// zero - 1, v2 (gptq_v2) the zero itself.
template <typename F>
uint32_t gptq_word(int bits, F value) {  // value(j) -> code
  uint32_t word = 0;
  for (int j = 0; j < 32 / bits; ++j) word |= (value(j) & ((1u << bits) - 1)) << (bits * j);
  return word;
}

void pack_gptq(const RefQuant& r, const QuantSpec& spec, const std::string& p, std::vector<test::StEntry>& out) {
  const int per = 32 / r.bits;
  std::vector<int32_t> qw(r.in / per * r.out), qz(r.groups * r.out / per);
  for (int64_t row = 0; row < r.in / per; ++row)
    for (int64_t o = 0; o < r.out; ++o)
      qw[row * r.out + o] = static_cast<int32_t>(gptq_word(r.bits, [&](int j) -> uint32_t {
        return r.q[o * r.in + row * per + j];
      }));
  for (int64_t g = 0; g < r.groups; ++g)
    for (int64_t c = 0; c < r.out / per; ++c)
      qz[g * (r.out / per) + c] = static_cast<int32_t>(gptq_word(r.bits, [&](int j) -> uint32_t {
        const uint32_t z = r.z[g * r.out + c * per + j];
        return spec.v2 ? z : z - 1;
      }));
  out.push_back(test::st_entry(p + ".qweight", "I32", {r.in / per, r.out}, qw));
  out.push_back(test::st_entry(p + ".qzeros", "I32", {r.groups, r.out / per}, qz));
  out.push_back(test::st_entry(p + ".scales", "F16", {r.groups, r.out}, r.s));
  out.push_back(test::st_entry(p + ".g_idx", "I32", {r.in}, r.g_idx));
}

TEST(HfCheckpointPackers, PackersFollowThePublishedLayouts) {
  // AWQ: outputs 0..7 with codes 0..7 give nibbles 0,2,4,6,1,3,5,7 from the low end.
  EXPECT_EQ(awq_word([](int64_t o) { return static_cast<uint32_t>(o); }, 0), 0x75316420u);
  EXPECT_EQ(awq_word([](int64_t o) { return static_cast<uint32_t>(o - 8); }, 1), 0x75316420u);
  EXPECT_EQ(awq_word([](int64_t o) { return o == 1 ? 15u : 0u; }, 0), 0x000F0000u);
  // GPTQ 4-bit: inputs 0..7 with codes 0..7 in order; v1 zeros of 8 are stored as 7.
  EXPECT_EQ(gptq_word(4, [](int j) { return static_cast<uint32_t>(j); }), 0x76543210u);
  EXPECT_EQ(gptq_word(4, [](int) { return 8u - 1u; }), 0x77777777u);
  // GPTQ 8-bit: four bytes, first input lowest; a v1 zero of 0 wraps to 0xFF.
  EXPECT_EQ(gptq_word(8, [](int j) { return static_cast<uint32_t>(j + 1); }), 0x04030201u);
  EXPECT_EQ(gptq_word(8, [](int j) { return j == 3 ? 0u - 1u : 0x80u; }), 0xFF808080u);
}

std::vector<float> rows_f32(const GgufTensor& t) {
  std::vector<float> v(t.n_elements());
  const size_t rb = row_size(t.type, t.ne[0]);
  for (int64_t r = 0; r < t.n_rows(); ++r) dequantize_row(t.type, t.data + r * rb, v.data() + r * t.ne[0], t.ne[0]);
  return v;
}

std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = fp32_to_fp16(v[i]);
  return h;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = fp32_to_bf16(v[i]);
  return h;
}

// Hugging Face row of GGUF llama q/k row r: GGUF heads hold rotated pairs
// adjacent ([n_head, d/2, 2]), Hugging Face as halves ([n_head, 2, d/2]).
int64_t hf_row_of(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, i = r % head_dim;
  return h * head_dim + (i % 2) * (head_dim / 2) + i / 2;
}

// A checkpoint exported from a GGUF model plus the GGUF model that loading it
// must reproduce.
class HfCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgerag_hf_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "ckpt");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string ckpt() const { return (dir_ / "ckpt").string(); }

  // Writes the checkpoint of `src` (tokenizer from `vocab`) and returns the expected GGUF.
  std::shared_ptr<const GgufFile> export_model(const GgufFile& src, const GgufFile& vocab, const QuantSpec& spec,
                                               json config_extra = json::object()) {
    const std::string a = src.get_string("general.architecture");
    const auto key = [&](const std::string& k) { return src.get_int(a + "." + k, 0); };
    const int64_t E = key("embedding_length"), F = key("feed_forward_length"), L = key("block_count");
    const int64_t H = key("attention.head_count"), Hkv = src.get_int(a + ".attention.head_count_kv", H);
    const int64_t D = src.get_int(a + ".attention.key_length", E / H);
    const GgufTensor& emb = src.tensor("token_embd.weight");
    const int64_t V = emb.ne[1];
    const bool tied = src.find_tensor("output.weight") == nullptr;
    const char* hf_arch = a == "llama" ? "LlamaForCausalLM" : a == "qwen2" ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM";
    json cfg = {{"architectures", {hf_arch}},
                {"model_type", a},
                {"hidden_size", E},
                {"intermediate_size", F},
                {"num_hidden_layers", L},
                {"num_attention_heads", H},
                {"num_key_value_heads", Hkv},
                {"head_dim", D},
                {"rms_norm_eps", src.get_float(a + ".attention.layer_norm_rms_epsilon", 1e-5)},
                {"rope_theta", src.get_float(a + ".rope.freq_base", 10000.0)},
                {"max_position_embeddings", key("context_length")},
                {"tie_word_embeddings", tied},
                {"vocab_size", V},
                {"torch_dtype", "float16"}};
    if (spec.method == "awq")
      cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", spec.bits}, {"group_size", spec.group},
                                    {"zero_point", true}, {"version", "gemm"}};
    if (spec.method == "gptq")
      cfg["quantization_config"] = {{"quant_method", "gptq"}, {"bits", spec.bits},
                                    {"group_size", spec.group}, {"desc_act", spec.act_order},
                                    {"sym", spec.sym}, {"checkpoint_format", spec.v2 ? "gptq_v2" : "gptq"}};
    cfg.update(config_extra);
    std::ofstream(ckpt() + "/config.json") << cfg.dump(2);
    test::export_tokenizer_json(vocab, ckpt());

    GgufWriter ref;
    ref.copy_metadata(src);
    std::vector<test::StEntry> st;
    std::mt19937 rng(7);
    const auto add_plain = [&](const std::string& gg, const std::string& hf, const std::vector<float>& hf_rows,
                               const std::vector<float>& gg_rows, int64_t cols, int64_t rows, const std::string& dt) {
      if (dt == "F16" || dt == "BF16") {
        const auto half = [&](const std::vector<float>& v) { return dt == "F16" ? to_f16(v) : to_bf16(v); };
        st.push_back(test::st_entry(hf, dt, {rows, cols}, half(hf_rows)));
        const auto h = half(gg_rows);
        ref.add_tensor(gg, dt == "F16" ? DType::F16 : DType::BF16, {cols, rows}, h.data(), h.size() * 2);
      } else {
        st.push_back(test::st_entry(hf, "F32", {rows, cols}, hf_rows));
        ref.add_tensor(gg, DType::F32, {cols, rows}, gg_rows.data(), gg_rows.size() * 4);
      }
    };
    const auto vec = [&](const std::string& gg, const std::string& hf) {
      const auto v = rows_f32(src.tensor(gg));
      st.push_back(test::st_entry(hf, "F32", {static_cast<int64_t>(v.size())}, v));
      ref.add_tensor(gg, DType::F32, {static_cast<int64_t>(v.size())}, v.data(), v.size() * 4);
    };
    const auto linear = [&](const std::string& gg, const std::string& hf, bool rope_rows) {
      const GgufTensor& t = src.tensor(gg);
      const int64_t in = t.ne[0], out = t.ne[1];
      const auto w = rows_f32(t);
      const auto hf_row = [&](int64_t r) { return rope_rows && a == "llama" ? hf_row_of(r, D) : r; };
      std::vector<float> w_hf(w.size());
      for (int64_t r = 0; r < out; ++r)
        std::copy_n(&w[r * in], in, &w_hf[hf_row(r) * in]);
      const bool fits = spec.method != "none" && in % spec.group == 0 && out % 8 == 0;
      if (!fits) return add_plain(gg, hf + ".weight", w_hf, w, in, out, "F16");
      const RefQuant rq = quantize(w_hf, in, out, spec, rng);
      if (spec.method == "awq") pack_awq(rq, hf, st);
      else pack_gptq(rq, spec, hf, st);
      // Expected GGUF rows: Q4_1 blocks d = s, m = -s*z, the codes (one group per 32 inputs);
      // 8-bit symmetric: Q8_0 with q - 128; act-order: the dequantized row requantized to Q8_0.
      const DType type = spec.act_order || spec.bits == 8 ? DType::Q8_0 : DType::Q4_1;
      std::vector<uint8_t> bytes(row_size(type, in) * out);
      for (int64_t r = 0; r < out; ++r) {
        const int64_t o = hf_row(r);
        uint8_t* dst = bytes.data() + r * row_size(type, in);
        if (spec.act_order) {
          std::vector<float> row(in);
          for (int64_t i = 0; i < in; ++i) row[i] = rq.deq(o, i);
          quantize_row(DType::Q8_0, row.data(), dst, in);
          continue;
        }
        for (int64_t b = 0; b < in / 32; ++b) {
          const size_t gi = static_cast<size_t>(rq.g_idx[b * 32]) * out + o;
          if (type == DType::Q4_1) {
            BlockQ4_1 blk{rq.s[gi], fp32_to_fp16(-fp16_to_fp32(rq.s[gi]) * rq.z[gi]), {}};
            for (int j = 0; j < 16; ++j)
              blk.qs[j] = static_cast<uint8_t>(rq.q[o * in + b * 32 + j] | rq.q[o * in + b * 32 + j + 16] << 4);
            std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
          } else {
            BlockQ8_0 blk{rq.s[gi], {}};
            for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<int8_t>(rq.q[o * in + b * 32 + j] - 128);
            std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
          }
        }
      }
      ref.add_tensor(gg, type, {in, out}, bytes.data(), bytes.size());
    };

    const auto e = rows_f32(emb);
    add_plain("token_embd.weight", "model.embed_tokens.weight", e, e, E, V, spec.embed_dtype);
    if (!tied) {
      const auto o = rows_f32(src.tensor("output.weight"));
      add_plain("output.weight", "lm_head.weight", o, o, E, V, "F32");
    }
    vec("output_norm.weight", "model.norm.weight");
    for (int64_t l = 0; l < L; ++l) {
      const std::string g = "blk." + std::to_string(l) + ".", h = "model.layers." + std::to_string(l) + ".";
      vec(g + "attn_norm.weight", h + "input_layernorm.weight");
      vec(g + "ffn_norm.weight", h + "post_attention_layernorm.weight");
      linear(g + "attn_q.weight", h + "self_attn.q_proj", true);
      linear(g + "attn_k.weight", h + "self_attn.k_proj", true);
      linear(g + "attn_v.weight", h + "self_attn.v_proj", false);
      linear(g + "attn_output.weight", h + "self_attn.o_proj", false);
      linear(g + "ffn_gate.weight", h + "mlp.gate_proj", false);
      linear(g + "ffn_up.weight", h + "mlp.up_proj", false);
      linear(g + "ffn_down.weight", h + "mlp.down_proj", false);
      for (const char* b : {"q", "k", "v"})
        if (src.find_tensor(g + "attn_" + b + ".bias"))
          vec(g + "attn_" + b + ".bias", h + "self_attn." + b + "_proj.bias");
      if (a == "qwen3") {
        vec(g + "attn_q_norm.weight", h + "self_attn.q_norm.weight");
        vec(g + "attn_k_norm.weight", h + "self_attn.k_norm.weight");
      }
    }
    if (spec.sharded) {
      const size_t half = st.size() / 2;
      const std::vector<test::StEntry> a1(st.begin(), st.begin() + half), a2(st.begin() + half, st.end());
      test::write_safetensors(ckpt() + "/model-00001-of-00002.safetensors", a1);
      test::write_safetensors(ckpt() + "/model-00002-of-00002.safetensors", a2);
      json map = json::object();
      for (const auto& t : a1) map[t.name] = "model-00001-of-00002.safetensors";
      for (const auto& t : a2) map[t.name] = "model-00002-of-00002.safetensors";
      std::ofstream(ckpt() + "/model.safetensors.index.json") << json{{"metadata", json::object()}, {"weight_map", map}}.dump();
    } else {
      test::write_safetensors(ckpt() + "/model.safetensors", st);
    }
    const std::string ref_path = (dir_ / "reference.gguf").string();
    ref.write(ref_path);
    return GgufFile::open(ref_path);
  }

  // Every reference tensor exists in the loaded model with the same type and bytes;
  // logits over a prompt and greedy continuations agree.
  static void expect_same_model(const std::shared_ptr<const GgufFile>& ref, const std::string& ckpt) {
    auto got = Model::load(ckpt);
    const GgufFile& g = got->gguf();
    for (const auto& t : ref->tensors()) {
      const GgufTensor* c = g.find_tensor(t.name);
      ASSERT_NE(c, nullptr) << t.name;
      ASSERT_EQ(dtype_name(c->type), std::string(dtype_name(t.type))) << t.name;
      ASSERT_EQ(c->shape_string(), t.shape_string()) << t.name;
      ASSERT_EQ(std::memcmp(c->data, t.data, t.nbytes), 0) << t.name << " differs";
    }
    auto want = Model::from_gguf(ref);
    const std::vector<int32_t> prompt = {1, 45, 300, 7, 99, 12, 250, 3};
    auto run = [&](const Model& m) {
      auto cache = m.make_cache(64);
      Batch b;
      for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0, true);
      Logits l = m.forward(b, *cache, nullptr);
      std::vector<float> all(l.row(0), l.row(0) + l.n_rows() * m.hparams().n_vocab);
      std::vector<int32_t> greedy;
      int32_t next = static_cast<int32_t>(
          std::max_element(l.row(l.n_rows() - 1), l.row(l.n_rows() - 1) + m.hparams().n_vocab) - l.row(l.n_rows() - 1));
      for (int step = 0; step < 6; ++step) {
        greedy.push_back(next);
        Batch one;
        one.add(next, static_cast<int32_t>(prompt.size() + step), 0, true);
        Logits lo = m.forward(one, *cache, nullptr);
        next = static_cast<int32_t>(std::max_element(lo.row(0), lo.row(0) + m.hparams().n_vocab) - lo.row(0));
      }
      return std::pair{all, greedy};
    };
    const auto [lw, gw] = run(*want);
    const auto [lg, gg] = run(*got);
    ASSERT_EQ(lw.size(), lg.size());
    float worst = 0;
    for (size_t i = 0; i < lw.size(); ++i) worst = std::max(worst, std::fabs(lw[i] - lg[i]));
    EXPECT_LE(worst, 1e-5f);
    EXPECT_EQ(gw, gg);
  }

  static std::unique_ptr<GgufFile> qwen2_vocab(const std::string& dir, int64_t n_vocab) {
    GgufWriter w;
    write_synth_vocab(w, "qwen2", n_vocab, test::golden_path("tokenizer"));
    const std::string path = dir + "/vocab.gguf";
    w.write(path);
    return GgufFile::open(path);
  }

  fs::path dir_;
};

TEST_F(HfCheckpoint, LlamaAwqPermutesRopeRowsAndKeepsUnquantizedLayers) {
  // stories260K: q/k/v/o (64 inputs) are AWQ-packed with group 32; gate/up
  // (172 outputs) and down (172 inputs) do not fit the packing and stay F16.
  auto src = GgufFile::open(test::model_path("stories260K.gguf"));
  auto vocab = qwen2_vocab(dir_.string(), 512);
  QuantSpec spec;
  spec.method = "awq";
  auto ref = export_model(*src, *vocab, spec);
  expect_same_model(ref, ckpt());

  // Each Q4_1 weight is (q - z) * s up to the fp16 rounding of m = -s*z.
  auto m = Model::load(ckpt());
  const GgufTensor& q = m->gguf().tensor("blk.0.attn_q.weight");
  EXPECT_EQ(q.type, DType::Q4_1);
  const auto got = rows_f32(q), orig = rows_f32(src->tensor("blk.0.attn_q.weight"));
  float worst = 0, range = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - orig[i])), range = std::max(range, std::fabs(orig[i]));
  EXPECT_LE(worst, range / 15);  // within one 4-bit step of the original weight
  // The tokenizer came from tokenizer.json.
  auto tok = Tokenizer::from_gguf(m->gguf());
  auto want_tok = Tokenizer::from_gguf(*vocab);
  EXPECT_EQ(tok->encode("Once upon a time, <|im_start|>", true, true),
            want_tok->encode("Once upon a time, <|im_start|>", true, true));
  EXPECT_EQ(m->gguf().get_string("tokenizer.chat_template"), vocab->get_string("tokenizer.chat_template"));
}

TEST_F(HfCheckpoint, Qwen3GptqV1Sharded) {
  auto src = GgufFile::open(test::model_path("synth-qwen3.gguf"));
  QuantSpec spec;
  spec.method = "gptq";
  spec.group = 64;
  spec.sharded = true;
  spec.embed_dtype = "F16";
  expect_same_model(export_model(*src, *src, spec), ckpt());
}

TEST_F(HfCheckpoint, Qwen3GptqActOrderIsRequantizedToQ8_0) {
  auto src = GgufFile::open(test::model_path("synth-qwen3.gguf"));
  QuantSpec spec;
  spec.method = "gptq";
  spec.act_order = true;
  spec.v2 = true;
  spec.embed_dtype = "BF16";
  expect_same_model(export_model(*src, *src, spec), ckpt());
}

TEST_F(HfCheckpoint, Qwen3AwqAndItsTokenizer) {
  auto src = GgufFile::open(test::model_path("synth-qwen3.gguf"));
  QuantSpec spec;
  spec.method = "awq";
  spec.group = 128;
  auto ref = export_model(*src, *src, spec);
  expect_same_model(ref, ckpt());
  auto m = Model::load(ckpt());
  auto a = Tokenizer::from_gguf(*src), b = Tokenizer::from_gguf(m->gguf());
  for (const char* s : {"Hello world", " this is 🦙.cpp", "<|endoftext|>x = 12345;\n\n  done"})
    EXPECT_EQ(a->encode(s, true, true), b->encode(s, true, true)) << s;
}

TEST_F(HfCheckpoint, Qwen2Gptq8BitSymmetricWithBiases) {
  auto src = GgufFile::open(test::model_path("synth-qwen2-q8_0.gguf"));
  QuantSpec spec;
  spec.method = "gptq";
  spec.bits = 8;
  spec.sym = true;
  spec.group = 128;
  expect_same_model(export_model(*src, *src, spec), ckpt());
}

TEST_F(HfCheckpoint, Llama3RopeScalingBecomesRopeFreqs) {
  auto src = GgufFile::open(test::model_path("stories260K.gguf"));
  auto vocab = qwen2_vocab(dir_.string(), 512);
  json rs = {{"rope_scaling",
              {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
               {"original_max_position_embeddings", 64}}}};
  export_model(*src, *vocab, QuantSpec{}, rs);
  auto m = Model::load(ckpt());
  const GgufTensor& f = m->gguf().tensor("rope_freqs.weight");
  ASSERT_EQ(f.n_elements(), 4);  // head_dim 8: wavelengths 2pi * 10000^(i/4) = 6.3, 63, 628, 6283
  const float* v = reinterpret_cast<const float*>(f.data);
  EXPECT_FLOAT_EQ(v[0], 1.0f);  // shorter than 64 / 4
  const double smooth = (64 / (2 * std::numbers::pi * 10.0) - 1) / 3;
  EXPECT_NEAR(v[1], 1 / ((1 - smooth) / 8 + smooth), 1e-4);
  EXPECT_FLOAT_EQ(v[2], 8.0f);  // longer than 64 / 1
  EXPECT_FLOAT_EQ(v[3], 8.0f);
}

TEST_F(HfCheckpoint, ModelFlagsResolveCheckpointDirectories) {
  EXPECT_THROW(resolve_model(ckpt()), Error);  // a directory without config.json is no model
  std::ofstream(ckpt() + "/config.json") << "{}";
  EXPECT_EQ(resolve_model(ckpt()), ckpt());
  EXPECT_TRUE(is_hf_checkpoint(ckpt()));
  const char* old = std::getenv("EDGERAG_MODELS");
  const std::string saved = old ? old : "";
  ::setenv("EDGERAG_MODELS", dir_.c_str(), 1);
  EXPECT_EQ(resolve_model("ckpt"), dir_.string() + "/ckpt");
  if (old) ::setenv("EDGERAG_MODELS", saved.c_str(), 1);
  else ::unsetenv("EDGERAG_MODELS");
}

TEST_F(HfCheckpoint, RejectsBadCheckpoints) {
  auto src = GgufFile::open(test::model_path("synth-qwen3.gguf"));
  QuantSpec spec;
  spec.method = "gptq";
  spec.group = 64;
  export_model(*src, *src, spec);
  const std::string cfg_path = ckpt() + "/config.json";
  const json good = json::parse(test::read_file(cfg_path));
  const auto expect_error = [&](const json& cfg, const std::string& what) {
    std::ofstream(cfg_path) << cfg.dump();
    try {
      Model::load(ckpt());
      FAIL() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto c = good;
  c["quantization_config"]["quant_method"] = "bitsandbytes";
  expect_error(c, "quant_method 'bitsandbytes' is not supported");
  c = good;
  c["quantization_config"]["bits"] = 3;
  expect_error(c, "GPTQ with 3 bits is not supported");
  c = good;
  c["architectures"] = {"MistralForCausalLM"};
  expect_error(c, "architecture 'MistralForCausalLM' is not supported");
  c = good;
  c["intermediate_size"] = 256;  // the packed MLP tensors no longer fit
  expect_error(c, "has shape");
  c = good;
  c["quantization_config"]["quant_method"] = "awq";  // GPTQ tensors read as AWQ
  expect_error(c, "expected");
  c = good;
  c.erase("hidden_size");
  expect_error(c, "missing 'hidden_size'");
  c = good;
  c["tie_word_embeddings"] = "yes";
  expect_error(c, "malformed checkpoint metadata");
  c = good;
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_error(c, "rope_scaling type 'yarn' is not supported");
  std::ofstream(cfg_path) << good.dump();

  // A truncated shard.
  const std::string st = ckpt() + "/model.safetensors";
  fs::resize_file(st, fs::file_size(st) / 2);
  try {
    Model::load(ckpt());
    FAIL() << "no error for a truncated shard";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgerag
