// Decoder hyperparameters read from a GGUF file's `{arch}.*` metadata.
#pragma once
#include <cstdint>
#include <string>

#include "format/gguf.h"

namespace edgerag {

enum class Arch { Llama, Qwen2, Qwen3 };

struct HParams {
  Arch arch = Arch::Llama;
  std::string arch_name;       // general.architecture as written in the file
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;     // {arch}.context_length
  int32_t n_embd = 0;
  int32_t n_ff = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;        // n_embd / n_head unless {arch}.attention.key_length says otherwise
  int32_t n_rot = 0;           // {arch}.rope.dimension_count (default head_dim)
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / {arch}.rope.scaling.factor for linear scaling
  bool rope_neox = false;        // qwen2/qwen3 rotate (i, i + n_rot/2); llama adjacent pairs

  int32_t n_embd_q() const { return n_head * head_dim; }
  int32_t n_embd_kv() const { return n_head_kv * head_dim; }
};

// Throws edgerag::Error naming the file and key for an unknown architecture or
// missing / inconsistent values.
HParams read_hparams(const GgufFile& f);

}  // namespace edgerag
