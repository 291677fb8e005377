// The compute-backend seam of the encoders (bert, modern-bert; model/bert.h), in
// the decoder's style (model/decoder_ops.h): the ops one pass over a packed batch
// is made of (EncoderOps), implemented once per backend over that backend's own
// activation buffers and weight copies (CpuEncoderOps: tensor/ +
// model/encoder_attention; VulkanEncoder::begin_pass: backend/vulkan), the one
// layer sequence of each architecture over them (encoder_layer) that
// BertModel::forward runs for every backend and for both halves of a partial
// offload, and DeviceEncoder, what a model holds of a device backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "model/bert_hparams.h"
#include "tensor/ops.h"

namespace edgerag {

// One layer's weights as bound from the GGUF file (host views of the file).
struct EncoderLayer {
  // bert: separate Q/K/V with biases, post-attention and post-FFN LayerNorms.
  Matrix q, k, v, o, up, down;
  const float *q_b = nullptr, *k_b = nullptr, *v_b = nullptr, *o_b = nullptr, *up_b = nullptr, *down_b = nullptr;
  const float *attn_norm_w = nullptr, *attn_norm_b = nullptr, *out_norm_w = nullptr, *out_norm_b = nullptr;
  // modern-bert: fused QKV, LayerNorms before attention (none in layer 0) and
  // before the FFN (attn_norm_* / out_norm_* above), up projecting to 2 * n_ff
  // (the activated half, then the multiplier).
  Matrix qkv;
  const float* qkv_b = nullptr;
  bool sliding = false;
};

// The whole model's weights as bound on the host; a backend makes its own copies from them.
struct EncoderWeights {
  Matrix tok_embd, type_embd, pos_embd;  // rows == 0 when absent
  const float* embd_norm_w = nullptr;
  const float* embd_norm_b = nullptr;
  const float* out_norm_w = nullptr;  // modern-bert's final LayerNorm
  const float* out_norm_b = nullptr;
  std::vector<EncoderLayer> layers;
};

// The activations of one pass, [n_tokens, n_embd] each; every backend holds its
// own (and its own Q/K/V and FFN buffers behind qkv / ffn).
enum class EncAct { X, H, Att, Tmp };
// LayerNorms: the embeddings', a layer's first (bert: after attention;
// modern-bert: before it) and second (bert: after the FFN; modern-bert: before
// it), and modern-bert's final one. Embd and Final ignore the layer argument.
enum class EncNorm { Embd, Attn, Out, Final };

// The ops of one encoder pass over one packed batch (inputs and their spans fixed
// when the pass begins; positions restart at 0 in every input). A backend may
// record them and run them later, but read_x returns results.
class EncoderOps {
 public:
  virtual ~EncoderOps() = default;
  // X = token rows (+ absolute position rows and token-type rows when the model has them).
  virtual void embed() = 0;
  // X to / from the host: the one transfer where a partial offload changes backend.
  virtual void read_x(float* host) = 0;
  virtual void write_x(const float* host) = 0;
  // out = layernorm(in) * w (+ b); in == out allowed.
  virtual void layer_norm(int32_t layer, EncNorm w, EncAct in, EncAct out) = 0;
  // Q, K, V = the layer's projections of `in`, biases added (bert: three
  // matrices; modern-bert: the fused one, split however the backend likes).
  virtual void qkv(int32_t layer, EncAct in) = 0;
  // NeoX RoPE on Q and K at each token's position in its input.
  virtual void rope(float base) = 0;
  // Att = attention of Q over the K/V of its own input's span; half_window >= 0:
  // only keys within that distance (sliding window), -1: all of them.
  virtual void attention(int64_t half_window) = 0;
  // Tmp = Wo Att + bo.
  virtual void attn_out(int32_t layer) = 0;
  // out = down(act(up(in))) with biases: act = GELU (bert), or GeGLU / SwiGLU
  // over the two halves of up (modern-bert). One op so that a backend may run it
  // in token chunks (the up activations are the largest buffer of a long input).
  virtual void ffn(int32_t layer, EncAct in, EncAct out) = 0;
  // X += Tmp.
  virtual void add_residual() = 0;
};

// A device backend's part of an encoder: its copies of the embedding tables and
// of the first n_layers() layers (and of the final LayerNorm when whole_model()),
// and the ops of each pass.
class DeviceEncoder {
 public:
  virtual ~DeviceEncoder() = default;
  virtual const char* name() const = 0;  // the --device name: "vulkan"
  virtual int64_t n_layers() const = 0;
  virtual bool whole_model() const = 0;
  virtual size_t weight_bytes() const = 0;
  // The ops of one pass over the batch (validated by the caller; input s holds
  // rows [start[s], start[s+1])): embed and layers [0, n_layers()), the final
  // norm when whole_model().
  virtual std::unique_ptr<EncoderOps> begin_pass(const std::vector<BertInput>& batch,
                                                 const std::vector<int64_t>& start) const = 0;
};

// The embeddings: embed, then their LayerNorm.
void encoder_embed(EncoderOps& ops);
// One encoder layer as a sequence of ops: bert (post-norm, GELU) or modern-bert
// (pre-norm, RoPE, global or sliding-window attention, GLU).
void encoder_layer(EncoderOps& ops, const EncoderLayer& L, int32_t layer, const BertHParams& hp);
// After the last layer: modern-bert's final LayerNorm (nothing for bert).
void encoder_final(EncoderOps& ops, const BertHParams& hp);

}  // namespace edgerag
