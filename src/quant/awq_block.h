// The decoder blocks AWQ judges its scales on, evaluated in F32 over the
// calibration rows captured from our own engine: a layer's attention (q/k/v of
// the normed input, qwen2 biases, qwen3 per-head q/k norms, RoPE, causal
// grouped-query attention, output projection) and its SwiGLU MLP. The
// arithmetic follows Model::forward without the KV cache; the tests check it
// against the engine's own activations.
#pragma once
#include <cstdint>
#include <vector>

#include "model/hparams.h"
#include "util/thread_pool.h"

namespace edgerag::quant {

// Row-major F32 weights of one attention block (GGUF shapes: wq n_embd_q x n_embd, ...).
struct AttentionWeights {
  const float *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;  // qwen2
  const float *q_norm = nullptr, *k_norm = nullptr;          // qwen3
};

// Y (n x rows) = X (n x cols) W^T for a row-major F32 W (rows x cols).
std::vector<float> linear_f32(const float* w, int64_t rows, int64_t cols, const float* x, int64_t n, ThreadPool* pool);

// The per-head attention outputs (n x n_embd_q, the input of attn_output) for the
// normed input rows `xn` (n x n_embd) of consecutive sequences of `seq_lens`
// tokens, each at positions 0..len-1. Llama-3.1 rope_freqs are not applied.
std::vector<float> attention_heads(const HParams& hp, const AttentionWeights& w, const float* xn,
                                   const std::vector<int64_t>& seq_lens, ThreadPool* pool);

// attention_heads projected by wo (n x n_embd).
std::vector<float> attention_block(const HParams& hp, const AttentionWeights& w, const float* xn,
                                   const std::vector<int64_t>& seq_lens, ThreadPool* pool);

// down(silu(gate xn) * up xn) (n x n_embd).
std::vector<float> mlp_block(const HParams& hp, const float* w_gate, const float* w_up, const float* w_down,
                             const float* xn, int64_t n, ThreadPool* pool);

// sum_i (a_i - b_i)^2
double squared_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace edgerag::quant
