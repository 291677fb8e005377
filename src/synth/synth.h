// Synthetic models: deterministic random weights in the published shapes of
// common small models, with working tokenizer metadata, written as GGUF files
// that edgerag and other GGUF readers load. Used for tests and benchmarks when
// the real weights are not at hand: speed depends only on shapes and types.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace edgerag {

struct SynthPreset {
  std::string name;
  std::string arch;  // default architecture: llama | qwen2 | qwen3 | bert | modern-bert
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int64_t n_ctx = 0;
  float rope_base = 10000.0f;
  float norm_eps = 1e-5f;
  bool tied = true;       // decoders: output projection shares token_embd
  int32_t pooling = 1;    // bert: bert.pooling_type (4 = rank, with a classifier head)
  std::string vocab;      // tokenizer style, see synth/synth_vocab.h
  int64_t n_swa = 0;      // modern-bert: sliding window of the local layers (every 3rd layer is global)
};

const std::vector<SynthPreset>& synth_presets();
const SynthPreset& synth_preset(const std::string& name);  // throws, listing the names

struct SynthOptions {
  std::string preset;
  std::string arch;        // empty = the preset's; a decoder shape may take another decoder arch
  DType type = DType::F32;  // F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K (llama-quantize's choices per tensor)
  // With Q4_K: llama-quantize's Q4_K_M mix instead of uniform Q4_K (Q6_K output
  // and attn_v / ffn_down of the layers use_more_bits picks; file type MOSTLY_Q4_K_M).
  bool q4_k_m = false;
  uint64_t seed = 1;
  int n_threads = 0;        // 0 = default_thread_count()
  // Folder with the ggml-vocab-*.gguf fixtures whose vocabularies are copied
  // when they fit the preset (bert-bge, llama-spm, gpt-2).
  std::string vocab_dir;
};

struct SynthReport {
  int64_t n_params = 0;
  size_t file_bytes = 0;
  std::vector<std::pair<std::string, int>> type_counts;  // tensors per type
};

// Generates the model and writes it atomically to `out_path`. Throws edgerag::Error.
SynthReport synth_model(const SynthOptions& opts, const std::string& out_path);

// The storage type llama-quantize picks for tensor `name` ([cols, rows], n_dims)
// when asked for `type`; `is_output` marks output.weight or a tied token_embd.
// q4_k_m_layers > 0 (with Q4_K): the Q4_K_M mix of a model with that many layers.
DType synth_tensor_type(DType type, const std::string& name, int n_dims, int64_t cols, bool is_output,
                        int64_t q4_k_m_layers = 0);

}  // namespace edgerag
