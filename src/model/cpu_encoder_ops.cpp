#include "model/cpu_encoder_ops.h"

#include <algorithm>
#include <cstring>

#include "model/bert_internal.h"
#include "model/encoder_attention.h"
#include "util/error.h"

namespace edgerag {

using namespace bert_detail;

CpuEncoderOps::CpuEncoderOps(const BertHParams& hp, const EncoderWeights& w, const std::vector<BertInput>& batch,
                             const std::vector<int64_t>& start, ThreadPool* pool)
    : hp_(hp), w_(w), batch_(batch), start_(start), pool_(pool), n_(start.back()) {}

std::vector<float>& CpuEncoderOps::act(EncAct a) {
  std::vector<float>* v = nullptr;
  switch (a) {
    case EncAct::X: v = &x_; break;
    case EncAct::H: v = &h_; break;
    case EncAct::Att: v = &att_; break;
    case EncAct::Tmp: v = &tmp_; break;
  }
  EDGERAG_CHECK(v != nullptr, "encoder: unknown activation");
  v->resize(static_cast<size_t>(n_ * hp_.n_embd));
  return *v;
}

void CpuEncoderOps::embed() {
  const int64_t E = hp_.n_embd;
  std::vector<float>& x = act(EncAct::X);
  std::vector<float> tmp(E);
  auto add_row = [&](const Matrix& table, int64_t r, float* row) {
    get_row(table, r, tmp.data());
    for (int64_t c = 0; c < E; ++c) row[c] += tmp[c];
  };
  for (size_t s = 0; s < batch_.size(); ++s) {
    const BertInput& in = batch_[s];
    for (int64_t i = 0; i < static_cast<int64_t>(in.ids.size()); ++i) {
      float* row = x.data() + (start_[s] + i) * E;
      get_row(w_.tok_embd, in.ids[i], row);
      if (w_.pos_embd.rows > 0) add_row(w_.pos_embd, i, row);
      if (w_.type_embd.rows > 0) add_row(w_.type_embd, in.type_ids.empty() ? 0 : in.type_ids[i], row);
    }
  }
}

void CpuEncoderOps::read_x(float* host) {
  const std::vector<float>& x = act(EncAct::X);
  std::memcpy(host, x.data(), x.size() * sizeof(float));
}

void CpuEncoderOps::write_x(const float* host) {
  std::vector<float>& x = act(EncAct::X);
  std::memcpy(x.data(), host, x.size() * sizeof(float));
}

void CpuEncoderOps::layer_norm(int32_t layer, EncNorm w, EncAct in, EncAct out) {
  const float *weight = nullptr, *bias = nullptr;
  switch (w) {
    case EncNorm::Embd: weight = w_.embd_norm_w, bias = w_.embd_norm_b; break;
    case EncNorm::Final: weight = w_.out_norm_w, bias = w_.out_norm_b; break;
    case EncNorm::Attn: weight = w_.layers[layer].attn_norm_w, bias = w_.layers[layer].attn_norm_b; break;
    case EncNorm::Out: weight = w_.layers[layer].out_norm_w, bias = w_.layers[layer].out_norm_b; break;
  }
  std::vector<float>& y = act(out);
  if (in != out) y = act(in);
  layernorm_rows(y.data(), weight, bias, n_, hp_.n_embd, hp_.eps);
}

void CpuEncoderOps::qkv(int32_t layer, EncAct in) {
  const EncoderLayer& L = w_.layers[layer];
  const int64_t E = hp_.n_embd;
  const float* x = act(in).data();
  qkv_.resize(static_cast<size_t>(n_ * 3 * E));
  if (L.qkv.rows > 0) {  // fused: rows of Q | K | V
    linear(L.qkv, L.qkv_b, x, n_, qkv_.data(), pool_);
    q_ = qkv_.data(), k_ = q_ + E, v_ = q_ + 2 * E, stride_ = 3 * E;
    return;
  }
  q_ = qkv_.data(), k_ = q_ + n_ * E, v_ = q_ + 2 * n_ * E, stride_ = E;
  linear(L.q, L.q_b, x, n_, q_, pool_);
  linear(L.k, L.k_b, x, n_, k_, pool_);
  linear(L.v, L.v_b, x, n_, v_, pool_);
}

void CpuEncoderOps::rope(float base) {
  const int64_t H = hp_.n_head, D = hp_.n_embd / H;
  for (size_t s = 0; s + 1 < start_.size(); ++s)
    for (int64_t i = 0; i < start_[s + 1] - start_[s]; ++i) {
      const int64_t t = start_[s] + i;
      rope_inplace(q_ + t * stride_, H, D, D, i, base, 1.0f, /*neox=*/true);
      rope_inplace(k_ + t * stride_, H, D, D, i, base, 1.0f, /*neox=*/true);
    }
}

void CpuEncoderOps::attention(int64_t half_window) {
  const int64_t H = hp_.n_head;
  encoder_attention(q_, k_, v_, stride_, start_, H, hp_.n_embd / H, half_window, act(EncAct::Att).data(), pool_);
}

void CpuEncoderOps::attn_out(int32_t layer) {
  const EncoderLayer& L = w_.layers[layer];
  linear(L.o, L.o_b, act(EncAct::Att).data(), n_, act(EncAct::Tmp).data(), pool_);
}

void CpuEncoderOps::ffn(int32_t layer, EncAct in, EncAct out) {
  const EncoderLayer& L = w_.layers[layer];
  const int64_t E = hp_.n_embd, F = hp_.n_ff;
  const bool glu = hp_.arch == EncoderArch::ModernBert;
  // Token chunks: the up activations (n_ff, or 2 * n_ff for a GLU, per token)
  // would be the largest buffer of a long input.
  constexpr int64_t kChunk = 256;
  const int64_t chunk = std::min(n_, kChunk);
  std::vector<float> up(chunk * L.up.rows), y(glu ? chunk * F : 0);
  const float* x = act(in).data();
  float* o = act(out).data();
  for (int64_t t0 = 0; t0 < n_; t0 += kChunk) {
    const int64_t n = std::min(kChunk, n_ - t0);
    linear(L.up, L.up_b, x + t0 * E, n, up.data(), pool_);
    if (!glu) {
      gelu_inplace(up.data(), n * F);
      linear(L.down, L.down_b, up.data(), n, o + t0 * E, pool_);
      continue;
    }
    // GLU: the activation takes the first half, the second half is the gate
    // (HF: `input, gate = Wi(x).chunk(2)`).
    for (int64_t t = 0; t < n; ++t) {
      const float* u = up.data() + t * 2 * F;
      float* yt = y.data() + t * F;
      if (hp_.ffn_silu) {
        swiglu(u, u + F, yt, F);
      } else {
        std::copy(u, u + F, yt);
        gelu_inplace(yt, F);
        for (int64_t c = 0; c < F; ++c) yt[c] *= u[F + c];
      }
    }
    linear(L.down, L.down_b, y.data(), n, o + t0 * E, pool_);
  }
}

void CpuEncoderOps::add_residual() {
  std::vector<float>& x = act(EncAct::X);
  const std::vector<float>& t = act(EncAct::Tmp);
  for (size_t i = 0; i < x.size(); ++i) x[i] += t[i];
}

}  // namespace edgerag
