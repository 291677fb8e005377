// Pieces shared by the two encoder architectures of model/bert.h (bert.cpp,
// modernbert.cpp). Not part of the public API.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/bert.h"
#include "tensor/ops.h"
#include "util/thread_pool.h"

namespace edgerag {

struct BertModel::Layer {
  // bert: separate Q/K/V with biases, post-attention and post-FFN LayerNorms.
  Matrix q, k, v, o, up, down;
  const float *q_b = nullptr, *k_b = nullptr, *v_b = nullptr, *o_b = nullptr, *up_b = nullptr, *down_b = nullptr;
  const float *attn_norm_w = nullptr, *attn_norm_b = nullptr, *out_norm_w = nullptr, *out_norm_b = nullptr;
  // modern-bert: fused QKV, LayerNorms before attention (none in layer 0) and
  // before the FFN (attn_norm_* / out_norm_* above), up projecting to 2 * n_ff.
  Matrix qkv;
  const float* qkv_b = nullptr;
  bool sliding = false;
};

namespace bert_detail {

// A 2-D weight [cols, rows] (a 1-D tensor is one row) with the expected shape.
Matrix weight(const GgufFile& f, const std::string& name, int64_t cols, int64_t rows);
// An F32 vector of n elements, or nullptr when absent and optional.
const float* vec(const GgufFile& f, const std::string& name, int64_t n, bool required = true);
// y = W x + b for n_tokens rows of x (b may be nullptr).
void linear(const Matrix& w, const float* b, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);
void layernorm_rows(float* x, const float* w, const float* b, int64_t n_tokens, int64_t n, float eps);

}  // namespace bert_detail
}  // namespace edgerag
