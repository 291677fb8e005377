// Loading the `modern-bert` architecture of model/bert.h, as llama.cpp's converter
// writes it (src/models/modern-bert.cpp in llama.cpp is the reference graph; its
// layer sequence is encoder_layer in model/encoder_ops.cpp).
#include "model/bert_internal.h"
#include "util/error.h"

namespace edgerag {

using namespace bert_detail;

void BertModel::load_modern_bert(const std::string& path) {
  const GgufFile& f = *file_;
  const std::string a = "modern-bert.";
  BertHParams& hp = hp_;
  hp.arch = EncoderArch::ModernBert;
  hp.n_embd = f.get_int(a + "embedding_length", 0);
  hp.n_layer = f.get_int(a + "block_count", 0);
  hp.n_head = f.get_int(a + "attention.head_count", 0);
  hp.n_ff = f.get_int(a + "feed_forward_length", 0);
  hp.n_ctx = f.get_int(a + "context_length", 0);
  EDGERAG_CHECK(f.find(a + "attention.layer_norm_epsilon"), "{}: missing {}attention.layer_norm_epsilon", path, a);
  hp.eps = static_cast<float>(f.get_float(a + "attention.layer_norm_epsilon", 1e-5));
  EDGERAG_CHECK(hp.n_embd > 0 && hp.n_layer > 0 && hp.n_head > 0 && hp.n_ff > 0 && hp.n_ctx > 0 &&
                    hp.n_embd % hp.n_head == 0 && (hp.n_embd / hp.n_head) % 2 == 0,
                "{}: invalid ModernBERT hyperparameters (embedding {}, layers {}, heads {}, ffn {}, context {})", path,
                hp.n_embd, hp.n_layer, hp.n_head, hp.n_ff, hp.n_ctx);
  const int64_t D = hp.n_embd / hp.n_head;
  EDGERAG_CHECK(f.get_int(a + "attention.head_count_kv", hp.n_head) == hp.n_head &&
                    f.get_int(a + "rope.dimension_count", D) == D,
                "{}: ModernBERT with grouped K/V heads or partial RoPE is not supported", path);
  EDGERAG_CHECK(!f.get_bool(a + "attention.causal", false), "{}: causal ModernBERT models are not supported", path);
  const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
  EDGERAG_CHECK(scaling == "none", "{}: RoPE scaling '{}' is not supported for modern-bert", path, scaling);
  const int64_t pooling = f.get_int(a + "pooling_type", static_cast<int64_t>(Pooling::Mean));
  EDGERAG_CHECK(pooling >= 0 && pooling <= 3, "{}: modern-bert pooling_type {} is not supported (none, mean, cls, last)",
                path, pooling);
  hp.pooling = static_cast<Pooling>(pooling);
  hp.n_swa = f.get_int(a + "attention.sliding_window", 0);
  hp.swa_pattern = f.get_int(a + "attention.sliding_window_pattern", 3);
  EDGERAG_CHECK(hp.n_swa >= 0 && hp.swa_pattern > 0, "{}: invalid sliding window {} / pattern {}", path, hp.n_swa,
                hp.swa_pattern);
  hp.rope_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
  hp.rope_base_swa = hp.n_swa > 0 ? static_cast<float>(f.get_float(a + "rope.freq_base_swa", 10000.0)) : hp.rope_base;
  EDGERAG_CHECK(hp.rope_base > 0 && hp.rope_base_swa > 0, "{}: RoPE bases must be positive", path);
  const std::string act = f.get_string(a + "hidden_activation", "gelu");
  EDGERAG_CHECK(act == "gelu" || act == "silu" || act == "swish",
                "{}: modern-bert hidden_activation '{}' is not supported (gelu, silu)", path, act);
  hp.ffn_silu = act != "gelu";

  const int64_t E = hp.n_embd, F = hp.n_ff;
  hp.n_vocab = f.tensor("token_embd.weight").n_rows();
  w_.tok_embd = weight(f, "token_embd.weight", E, hp.n_vocab);
  w_.embd_norm_w = vec(f, "token_embd_norm.weight", E);
  w_.embd_norm_b = vec(f, "token_embd_norm.bias", E, false);
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    EncoderLayer L;
    L.attn_norm_w = vec(f, p + "attn_norm.weight", E, /*required=*/l > 0);  // identity in layer 0
    L.attn_norm_b = vec(f, p + "attn_norm.bias", E, false);
    L.qkv = weight(f, p + "attn_qkv.weight", E, 3 * E);
    L.qkv_b = vec(f, p + "attn_qkv.bias", 3 * E, false);
    L.o = weight(f, p + "attn_output.weight", E, E);
    L.o_b = vec(f, p + "attn_output.bias", E, false);
    L.out_norm_w = vec(f, p + "ffn_norm.weight", E);
    L.out_norm_b = vec(f, p + "ffn_norm.bias", E, false);
    L.up = weight(f, p + "ffn_up.weight", E, 2 * F);
    L.up_b = vec(f, p + "ffn_up.bias", 2 * F, false);
    L.down = weight(f, p + "ffn_down.weight", F, E);
    L.down_b = vec(f, p + "ffn_down.bias", E, false);
    L.sliding = hp.n_swa > 0 && l % hp.swa_pattern != 0;
    w_.layers.push_back(L);
  }
  w_.out_norm_w = vec(f, "output_norm.weight", E);
  w_.out_norm_b = vec(f, "output_norm.bias", E, false);
}

}  // namespace edgerag
