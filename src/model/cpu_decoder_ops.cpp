#include "model/cpu_decoder_ops.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "model/attention.h"
#include "util/error.h"

namespace edgerag {

void rope_heads(const HParams& hp, const float* rope_freqs, float* x, int32_t n_heads, int64_t pos) {
  if (!rope_freqs) {
    rope_inplace(x, n_heads, hp.head_dim, hp.n_rot, pos, hp.rope_freq_base, hp.rope_freq_scale, hp.rope_neox);
    return;
  }
  // theta_i = pos * base^(-2i/n_rot) / factor_i: rotate each adjacent pair on its
  // own (a 2-dim rope at offset 2i, whose angle is freq_scale * pos).
  for (int32_t i = 0; i < hp.n_rot / 2; ++i) {
    const float scale = hp.rope_freq_scale * std::pow(hp.rope_freq_base, -2.0f * i / hp.n_rot) / rope_freqs[i];
    rope_inplace(x + 2 * i, n_heads, hp.head_dim, 2, pos, hp.rope_freq_base, scale, false);
  }
}

CpuDecoderOps::CpuDecoderOps(const HParams& hp, const DecoderWeights& w, const Batch& batch, KvCache& cache,
                             const std::vector<int32_t>& blk, const std::vector<int32_t>& slot, ThreadPool* pool,
                             const ForwardHooks* hooks)
    : hp_(hp), w_(w), batch_(batch), cache_(cache), blk_(blk), slot_(slot), pool_(pool),
      n_(static_cast<int64_t>(batch.size())) {
  const int64_t E = hp.n_embd, Q = hp.n_embd_q(), KV = hp.n_embd_kv(), F = hp.n_ff;
  for (auto [v, width] : {std::pair{&x_, E}, {&xn_, E}, {&q_, Q}, {&k_, KV}, {&v_, KV}, {&att_, Q}, {&tmp_, E},
                          {&gate_, F}, {&up_, F}})
    v->resize(n_ * width);
  if (hooks && hooks->on_linear_input) observer_ = &hooks->on_linear_input;
  capture_ = hooks ? hooks->attention : nullptr;
  if (capture_) {
    for (int32_t bi : capture_->batch_index)
      EDGERAG_CHECK(bi >= 0 && bi < n_, "attention capture: batch index {} out of range", bi);
    capture_->weights.assign(capture_->batch_index.size(), std::vector<std::vector<std::vector<float>>>(
                                                                hp.n_layer, std::vector<std::vector<float>>(hp.n_head)));
  }
}

std::vector<float>& CpuDecoderOps::act(Act a) {
  switch (a) {
    case Act::X: return x_;
    case Act::XN: return xn_;
    case Act::Q: return q_;
    case Act::K: return k_;
    case Act::V: return v_;
    case Act::Att: return att_;
    case Act::Tmp: return tmp_;
    case Act::Gate: return gate_;
    case Act::Up: return up_;
  }
  fail("decoder: unknown activation");
}

void CpuDecoderOps::apply(const Matrix& w, int32_t layer, const char* name, const float* x, int64_t rows,
                          float* y) const {
  if (observer_)
    (*observer_)(layer, layer < 0 ? std::string(name) : fmt::format("blk.{}.{}", layer, name), x, rows, w.cols);
  matmul(w, x, rows, y, pool_);
  if (w.outliers.row_ptr) csr_matmul_add(w.outliers, x, rows, y, pool_);
}

void CpuDecoderOps::embed() {
  const int64_t E = hp_.n_embd;
  for (int64_t t = 0; t < n_; ++t) get_row(*w_.tok_embd, batch_.tokens[t].id, x_.data() + t * E);
}

void CpuDecoderOps::read_x(float* host) { std::memcpy(host, x_.data(), x_.size() * sizeof(float)); }
void CpuDecoderOps::write_x(const float* host) { std::memcpy(x_.data(), host, x_.size() * sizeof(float)); }

void CpuDecoderOps::rms_norm(int32_t layer, Norm w, Act in, Act out) {
  const LayerWeights& L = (*w_.layers)[layer];
  const float* weight = w == Norm::Attn ? L.attn_norm : w == Norm::Ffn ? L.ffn_norm : w == Norm::QHead ? L.q_norm : L.k_norm;
  const int64_t width = w == Norm::Attn || w == Norm::Ffn ? hp_.n_embd : hp_.head_dim;
  const std::vector<float>& src = act(in);
  float* dst = act(out).data();
  const int64_t rows = static_cast<int64_t>(src.size()) / width;
  for (int64_t r = 0; r < rows; ++r) rmsnorm(src.data() + r * width, weight, dst + r * width, width, hp_.rms_eps);
}

void CpuDecoderOps::linear(int32_t layer, Linear w, Act in, Act out) {
  const LayerWeights& L = (*w_.layers)[layer];
  const Matrix* m[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
  apply(*m[static_cast<int>(w)], layer, linear_name(w), act(in).data(), n_, act(out).data());
}

void CpuDecoderOps::add_bias(int32_t layer, Linear w, Act y) {
  const LayerWeights& L = (*w_.layers)[layer];
  const float* b = w == Linear::Q ? L.bq : w == Linear::K ? L.bk : L.bv;
  std::vector<float>& v = act(y);
  const int64_t width = static_cast<int64_t>(v.size()) / n_;
  for (int64_t t = 0; t < n_; ++t)
    for (int64_t i = 0; i < width; ++i) v[t * width + i] += b[i];
}

void CpuDecoderOps::rope(Act y, int32_t n_heads) {
  std::vector<float>& v = act(y);
  const int64_t width = static_cast<int64_t>(n_heads) * hp_.head_dim;
  for (int64_t t = 0; t < n_; ++t) rope_heads(hp_, w_.rope_freqs, v.data() + t * width, n_heads, batch_.tokens[t].pos);
}

void CpuDecoderOps::kv_write(int32_t layer) {
  const int64_t KV = hp_.n_embd_kv(), HD = hp_.head_dim;
  for (int64_t t = 0; t < n_; ++t)
    for (int32_t h = 0; h < hp_.n_head_kv; ++h) {
      cache_.write_k(blk_[t], layer, h, slot_[t], k_.data() + t * KV + h * HD);
      cache_.write_v(blk_[t], layer, h, slot_[t], v_.data() + t * KV + h * HD);
    }
}

void CpuDecoderOps::attention(int32_t layer) {
  const int64_t Q = hp_.n_embd_q(), HD = hp_.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  edgerag::attention(cache_, batch_, layer, q_.data(), hp_.n_head, scale, att_.data(), pool_);
  if (!capture_) return;
  const int32_t group = hp_.n_head / hp_.n_head_kv;
  for (size_t ci = 0; ci < capture_->batch_index.size(); ++ci) {
    const int32_t t = capture_->batch_index[ci];
    const auto& tok = batch_.tokens[t];
    for (int32_t h = 0; h < hp_.n_head; ++h)
      capture_->weights[ci][layer][h] = attention_weights(cache_, cache_.block_table(tok.seq), layer, h / group,
                                                          q_.data() + t * Q + h * HD, tok.pos + 1, scale);
  }
}

void CpuDecoderOps::swiglu() { edgerag::swiglu(gate_.data(), up_.data(), gate_.data(), static_cast<int64_t>(gate_.size())); }

void CpuDecoderOps::add_residual() {
  for (size_t i = 0; i < x_.size(); ++i) x_[i] += tmp_[i];
}

Logits CpuDecoderOps::output() {
  const int64_t E = hp_.n_embd;
  Logits out;
  out.n_vocab = hp_.n_vocab;
  out.row_of.assign(n_, -1);
  int32_t rows = 0;
  for (int64_t t = 0; t < n_; ++t) {
    if (!batch_.tokens[t].logits) continue;
    rmsnorm(x_.data() + t * E, w_.output_norm, xn_.data() + rows * E, E, hp_.rms_eps);
    out.row_of[t] = rows++;
  }
  if (rows > 0) {
    out.data.resize(static_cast<size_t>(rows) * hp_.n_vocab);
    apply(*w_.output, -1, "output.weight", xn_.data(), rows, out.data.data());
  }
  return out;
}

}  // namespace edgerag
