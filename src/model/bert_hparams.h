// Hyperparameters and inputs of the encoder models (model/bert.h), shared by the
// encoder seam (model/encoder_ops.h) and the backends that implement it.
#pragma once
#include <cstdint>
#include <vector>

namespace edgerag {

// Values of `bert.pooling_type` (llama.cpp's llama_pooling_type).
enum class Pooling : int32_t { None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 };
const char* pooling_name(Pooling p);

enum class EncoderArch { Bert, ModernBert };

struct BertHParams {
  EncoderArch arch = EncoderArch::Bert;
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0;
  int64_t n_ctx = 0;          // learned positions (bert) or context length (modern-bert)
  int64_t n_token_types = 0;  // rows of token_types.weight
  int64_t n_cls_out = 0;      // rank head outputs (0 without a head)
  float eps = 1e-12f;
  Pooling pooling = Pooling::Mean;
  // modern-bert only. Layer il is global iff il % swa_pattern == 0; the others
  // let query i see key j iff |i - j| <= n_swa / 2 (n_swa == 0: all global).
  int64_t n_swa = 0, swa_pattern = 3;
  float rope_base = 10000.0f, rope_base_swa = 10000.0f;  // global / local layers
  bool ffn_silu = false;  // SwiGLU (hidden_activation silu) instead of GeGLU
};

// One input of a packed batch. Empty type_ids means type 0 everywhere.
struct BertInput {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

}  // namespace edgerag
