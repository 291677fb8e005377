#include "quant/awq_block.h"

#include <cmath>
#include <numeric>

#include "tensor/ops.h"
#include "util/error.h"

namespace edgerag::quant {
namespace {

void add_bias(std::vector<float>& y, const float* b, int64_t n, int64_t width) {
  if (!b) return;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < width; ++i) y[t * width + i] += b[i];
}

}  // namespace

std::vector<float> linear_f32(const float* w, int64_t rows, int64_t cols, const float* x, int64_t n, ThreadPool* pool) {
  std::vector<float> y(n * rows);
  matmul(Matrix::of(DType::F32, cols, rows, w), x, n, y.data(), pool);
  return y;
}

std::vector<float> attention_heads(const HParams& hp, const AttentionWeights& w, const float* xn,
                                   const std::vector<int64_t>& seq_lens, ThreadPool* pool) {
  const int64_t n = std::accumulate(seq_lens.begin(), seq_lens.end(), int64_t{0});
  const int64_t E = hp.n_embd, Q = hp.n_embd_q(), KV = hp.n_embd_kv(), HD = hp.head_dim;
  const int32_t NH = hp.n_head, NKV = hp.n_head_kv, group = NH / NKV;
  std::vector<float> q = linear_f32(w.wq, Q, E, xn, n, pool), k = linear_f32(w.wk, KV, E, xn, n, pool),
                     v = linear_f32(w.wv, KV, E, xn, n, pool);
  add_bias(q, w.bq, n, Q);
  add_bias(k, w.bk, n, KV);
  add_bias(v, w.bv, n, KV);
  std::vector<int64_t> pos(n), seq_start(n);
  for (int64_t t = 0, s0 = 0; const int64_t len : seq_lens) {
    for (int64_t p = 0; p < len; ++p, ++t) pos[t] = p, seq_start[t] = s0;
    s0 += len;
  }
  for (int64_t t = 0; t < n; ++t) {
    float* qt = q.data() + t * Q;
    float* kt = k.data() + t * KV;
    if (w.q_norm) {
      for (int32_t h = 0; h < NH; ++h) rmsnorm(qt + h * HD, w.q_norm, qt + h * HD, HD, hp.rms_eps);
      for (int32_t h = 0; h < NKV; ++h) rmsnorm(kt + h * HD, w.k_norm, kt + h * HD, HD, hp.rms_eps);
    }
    rope_inplace(qt, NH, HD, hp.n_rot, pos[t], hp.rope_freq_base, hp.rope_freq_scale, hp.rope_neox);
    rope_inplace(kt, NKV, HD, hp.n_rot, pos[t], hp.rope_freq_base, hp.rope_freq_scale, hp.rope_neox);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  std::vector<float> out(n * Q, 0.0f);
  auto body = [&](int, size_t i0, size_t i1) {
    std::vector<float> p;
    for (size_t i = i0; i < i1; ++i) {
      const int64_t t = static_cast<int64_t>(i) / NH;
      const int32_t h = static_cast<int32_t>(i % NH), g = h / group;
      const float* qh = q.data() + t * Q + h * HD;
      p.resize(pos[t] + 1);
      for (int64_t j = 0; j <= pos[t]; ++j) p[j] = scale * dot_f32(qh, k.data() + (seq_start[t] + j) * KV + g * HD, HD);
      softmax_inplace(p.data(), pos[t] + 1);
      float* o = out.data() + t * Q + h * HD;
      for (int64_t j = 0; j <= pos[t]; ++j) axpy_f32(p[j], v.data() + (seq_start[t] + j) * KV + g * HD, o, HD);
    }
  };
  if (pool) pool->parallel_for(static_cast<size_t>(n) * NH, body);
  else body(0, 0, static_cast<size_t>(n) * NH);
  return out;
}

std::vector<float> attention_block(const HParams& hp, const AttentionWeights& w, const float* xn,
                                   const std::vector<int64_t>& seq_lens, ThreadPool* pool) {
  const std::vector<float> heads = attention_heads(hp, w, xn, seq_lens, pool);
  const int64_t n = static_cast<int64_t>(heads.size()) / hp.n_embd_q();
  return linear_f32(w.wo, hp.n_embd, hp.n_embd_q(), heads.data(), n, pool);
}

std::vector<float> mlp_block(const HParams& hp, const float* w_gate, const float* w_up, const float* w_down,
                             const float* xn, int64_t n, ThreadPool* pool) {
  std::vector<float> gate = linear_f32(w_gate, hp.n_ff, hp.n_embd, xn, n, pool);
  const std::vector<float> up = linear_f32(w_up, hp.n_ff, hp.n_embd, xn, n, pool);
  swiglu(gate.data(), up.data(), gate.data(), n * hp.n_ff);
  return linear_f32(w_down, hp.n_embd, hp.n_ff, gate.data(), n, pool);
}

double squared_error(const std::vector<float>& a, const std::vector<float>& b) {
  EDGERAG_CHECK(a.size() == b.size(), "squared_error: sizes {} and {} differ", a.size(), b.size());
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return e;
}

}  // namespace edgerag::quant
