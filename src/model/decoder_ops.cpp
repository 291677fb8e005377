#include "model/decoder_ops.h"

namespace edgerag {

const char* linear_name(Linear w) {
  switch (w) {
    case Linear::Q: return "attn_q.weight";
    case Linear::K: return "attn_k.weight";
    case Linear::V: return "attn_v.weight";
    case Linear::O: return "attn_output.weight";
    case Linear::Gate: return "ffn_gate.weight";
    case Linear::Up: return "ffn_up.weight";
    case Linear::Down: return "ffn_down.weight";
  }
  return "";
}

void decoder_layer(DecoderOps& ops, const LayerWeights& L, int32_t il, const HParams& hp, bool kv_only) {
  ops.rms_norm(il, Norm::Attn, Act::X, Act::XN);
  ops.linear(il, Linear::Q, Act::XN, Act::Q);
  ops.linear(il, Linear::K, Act::XN, Act::K);
  ops.linear(il, Linear::V, Act::XN, Act::V);
  if (L.bq) {  // qwen2
    ops.add_bias(il, Linear::Q, Act::Q);
    ops.add_bias(il, Linear::K, Act::K);
    ops.add_bias(il, Linear::V, Act::V);
  }
  if (L.q_norm) {  // qwen3: per-head RMSNorm before RoPE
    ops.rms_norm(il, Norm::QHead, Act::Q, Act::Q);
    ops.rms_norm(il, Norm::KHead, Act::K, Act::K);
  }
  ops.rope(Act::Q, hp.n_head);
  ops.rope(Act::K, hp.n_head_kv);
  ops.kv_write(il);
  if (kv_only) return;
  ops.attention(il);
  ops.linear(il, Linear::O, Act::Att, Act::Tmp);
  ops.add_residual();
  ops.rms_norm(il, Norm::Ffn, Act::X, Act::XN);
  ops.linear(il, Linear::Gate, Act::XN, Act::Gate);
  ops.linear(il, Linear::Up, Act::XN, Act::Up);
  ops.swiglu();
  ops.linear(il, Linear::Down, Act::Gate, Act::Tmp);
  ops.add_residual();
}

}  // namespace edgerag
