#include "model/encoder_ops.h"

namespace edgerag {

void encoder_embed(EncoderOps& ops) {
  ops.embed();
  ops.layer_norm(-1, EncNorm::Embd, EncAct::X, EncAct::X);
}

void encoder_layer(EncoderOps& ops, const EncoderLayer& L, int32_t il, const BertHParams& hp) {
  if (hp.arch == EncoderArch::Bert) {
    ops.qkv(il, EncAct::X);
    ops.attention(-1);
    ops.attn_out(il);
    ops.add_residual();
    ops.layer_norm(il, EncNorm::Attn, EncAct::X, EncAct::X);
    ops.ffn(il, EncAct::X, EncAct::Tmp);
    ops.add_residual();
    ops.layer_norm(il, EncNorm::Out, EncAct::X, EncAct::X);
    return;
  }
  // modern-bert: pre-norm (layer 0 has no attention norm).
  EncAct in = EncAct::X;
  if (L.attn_norm_w) {
    ops.layer_norm(il, EncNorm::Attn, EncAct::X, EncAct::H);
    in = EncAct::H;
  }
  ops.qkv(il, in);
  ops.rope(L.sliding ? hp.rope_base_swa : hp.rope_base);
  ops.attention(L.sliding ? hp.n_swa / 2 : -1);
  ops.attn_out(il);
  ops.add_residual();
  ops.layer_norm(il, EncNorm::Out, EncAct::X, EncAct::H);
  ops.ffn(il, EncAct::H, EncAct::Tmp);
  ops.add_residual();
}

void encoder_final(EncoderOps& ops, const BertHParams& hp) {
  if (hp.arch == EncoderArch::ModernBert) ops.layer_norm(-1, EncNorm::Final, EncAct::X, EncAct::X);
}

}  // namespace edgerag
