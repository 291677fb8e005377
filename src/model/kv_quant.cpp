#include "model/kv_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "util/error.h"

namespace edgerag {
namespace {

size_t code_bytes(size_t n, int bits) { return bits == 8 ? n : (n + 1) / 2; }

void put_code(uint8_t* codes, size_t i, int bits, int q) {
  if (bits == 8) codes[i] = static_cast<uint8_t>(q);
  else codes[i / 2] = static_cast<uint8_t>(i % 2 ? (codes[i / 2] & 0x0F) | (q << 4) : (codes[i / 2] & 0xF0) | q);
}
int get_code(const uint8_t* codes, size_t i, int bits) {
  return bits == 8 ? codes[i] : (i % 2 ? codes[i / 2] >> 4 : codes[i / 2] & 0x0F);
}

// out[c] = d[c * dstep] * code(first + c) + m[c * mstep] for c < n: the inner
// loops of the dequantizers (hot in attention), branch-free when codes are whole
// bytes or start on a byte.
void decode_codes(const uint8_t* codes, size_t first, int n, int bits, const float* d, int dstep, const float* m,
                  int mstep, float* out) {
  if (bits == 8) {
    for (int c = 0; c < n; ++c) out[c] = d[c * dstep] * codes[first + c] + m[c * mstep];
  } else if (first % 2 == 0) {
    const uint8_t* b = codes + first / 2;
    int c = 0;
    for (; c + 1 < n; c += 2) {
      out[c] = d[c * dstep] * (b[c / 2] & 0x0F) + m[c * mstep];
      out[c + 1] = d[(c + 1) * dstep] * (b[c / 2] >> 4) + m[(c + 1) * mstep];
    }
    if (c < n) out[c] = d[c * dstep] * (b[c / 2] & 0x0F) + m[c * mstep];
  } else {
    for (int c = 0; c < n; ++c) out[c] = d[c * dstep] * get_code(codes, first + c, 4) + m[c * mstep];
  }
}

// (d, m) of values x[0], x[stride], ... as fp16, asymmetric min/max.
void fit(const float* x, int n, int stride, int bits, uint16_t* d, uint16_t* m) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) lo = std::min(lo, x[i * stride]), hi = std::max(hi, x[i * stride]);
  *d = fp32_to_fp16((hi - lo) / ((1 << bits) - 1));
  *m = fp32_to_fp16(lo);
}
int code_of(float x, float d, float m, int bits) {
  return d ? std::clamp(static_cast<int>(std::lround((x - m) / d)), 0, (1 << bits) - 1) : 0;
}

}  // namespace

void check_kv_bits(int bits) {
  EDGERAG_CHECK(bits == 8 || bits == 4, "KV cache quantization: bits must be 8 or 4 (got {})", bits);
}

size_t kv_channel_bytes(int n_tokens, int dim, int bits) {
  return 4 * static_cast<size_t>(dim) + code_bytes(static_cast<size_t>(n_tokens) * dim, bits);
}

void kv_quantize_channels(const float* x, int n_tokens, int dim, int bits, uint8_t* dst) {
  check_kv_bits(bits);
  auto* dm = reinterpret_cast<uint16_t*>(dst);  // d[dim], m[dim]
  uint8_t* codes = dst + 4 * static_cast<size_t>(dim);
  std::memset(codes, 0, code_bytes(static_cast<size_t>(n_tokens) * dim, bits));
  for (int c = 0; c < dim; ++c) {
    uint16_t d, m;
    fit(x + c, n_tokens, dim, bits, &d, &m);
    std::memcpy(dm + c, &d, 2);
    std::memcpy(dm + dim + c, &m, 2);
    const float df = fp16_to_fp32(d), mf = fp16_to_fp32(m);
    for (int t = 0; t < n_tokens; ++t)
      put_code(codes, static_cast<size_t>(t) * dim + c, bits, code_of(x[t * dim + c], df, mf, bits));
  }
}

void kv_dequantize_channels(const uint8_t* src, int n_tokens, int dim, int bits, float* x) {
  const uint8_t* codes = src + 4 * static_cast<size_t>(dim);
  // Row order over chunks of channels with their scales unpacked once: the
  // inner loop is contiguous (this runs per attention tile).
  constexpr int kChunk = 64;
  float df[kChunk], mf[kChunk];
  for (int c0 = 0; c0 < dim; c0 += kChunk) {
    const int nc = std::min(kChunk, dim - c0);
    for (int c = 0; c < nc; ++c) {
      uint16_t d, m;
      std::memcpy(&d, src + 2 * (c0 + c), 2);
      std::memcpy(&m, src + 2 * (dim + c0 + c), 2);
      df[c] = fp16_to_fp32(d);
      mf[c] = fp16_to_fp32(m);
    }
    for (int t = 0; t < n_tokens; ++t) {
      const size_t row = static_cast<size_t>(t) * dim + c0;
      decode_codes(codes, row, nc, bits, df, 1, mf, 1, x + row);
    }
  }
}

size_t kv_token_bytes(int dim, int bits) { return 4 + code_bytes(dim, bits); }

void kv_quantize_token(const float* x, int dim, int bits, uint8_t* dst) {
  check_kv_bits(bits);
  uint16_t d, m;
  fit(x, dim, 1, bits, &d, &m);
  std::memcpy(dst, &d, 2);
  std::memcpy(dst + 2, &m, 2);
  std::memset(dst + 4, 0, code_bytes(dim, bits));
  const float df = fp16_to_fp32(d), mf = fp16_to_fp32(m);
  for (int i = 0; i < dim; ++i) put_code(dst + 4, i, bits, code_of(x[i], df, mf, bits));
}

void kv_dequantize_token(const uint8_t* src, int dim, int bits, float* x) {
  uint16_t d, m;
  std::memcpy(&d, src, 2);
  std::memcpy(&m, src + 2, 2);
  const float df = fp16_to_fp32(d), mf = fp16_to_fp32(m);
  decode_codes(src + 4, 0, dim, bits, &df, 0, &mf, 0, x);
}

QuantizedKvHead::QuantizedKvHead(int head_dim, const KvQuantOptions& opt) : dim_(head_dim), opt_(opt) {
  check_kv_bits(opt.bits);
  EDGERAG_CHECK(head_dim > 0 && opt.key_group > 0 && opt.keep_leading >= 0, "KV cache quantization: bad shape");
}

void QuantizedKvHead::append(const float* k, const float* v) {
  if (n_ < opt_.keep_leading) {
    lead_k_.insert(lead_k_.end(), k, k + dim_);
    lead_v_.insert(lead_v_.end(), v, v + dim_);
  } else {
    pending_k_.insert(pending_k_.end(), k, k + dim_);
    if (static_cast<int>(pending_k_.size()) == opt_.key_group * dim_) {
      std::vector<uint8_t> g(kv_channel_bytes(opt_.key_group, dim_, opt_.bits));
      kv_quantize_channels(pending_k_.data(), opt_.key_group, dim_, opt_.bits, g.data());
      key_groups_.push_back(std::move(g));
      pending_k_.clear();
    }
    const size_t tb = kv_token_bytes(dim_, opt_.bits);
    values_.resize(values_.size() + tb);
    kv_quantize_token(v, dim_, opt_.bits, values_.data() + values_.size() - tb);
  }
  ++n_;
}

void QuantizedKvHead::key(int t, float* out) const {
  EDGERAG_CHECK(t >= 0 && t < n_, "KV head: token {} out of range", t);
  if (t < opt_.keep_leading) return (void)std::memcpy(out, &lead_k_[static_cast<size_t>(t) * dim_], dim_ * 4);
  const int q = t - opt_.keep_leading, g = q / opt_.key_group, i = q % opt_.key_group;
  if (g == static_cast<int>(key_groups_.size()))
    return (void)std::memcpy(out, &pending_k_[static_cast<size_t>(i) * dim_], dim_ * 4);
  std::vector<float> tmp(static_cast<size_t>(opt_.key_group) * dim_);
  kv_dequantize_channels(key_groups_[g].data(), opt_.key_group, dim_, opt_.bits, tmp.data());
  std::memcpy(out, &tmp[static_cast<size_t>(i) * dim_], dim_ * 4);
}

void QuantizedKvHead::value(int t, float* out) const {
  EDGERAG_CHECK(t >= 0 && t < n_, "KV head: token {} out of range", t);
  if (t < opt_.keep_leading) return (void)std::memcpy(out, &lead_v_[static_cast<size_t>(t) * dim_], dim_ * 4);
  kv_dequantize_token(values_.data() + static_cast<size_t>(t - opt_.keep_leading) * kv_token_bytes(dim_, opt_.bits),
                      dim_, opt_.bits, out);
}

size_t QuantizedKvHead::bytes() const {
  size_t b = 4 * (lead_k_.size() + lead_v_.size() + pending_k_.size()) + values_.size();
  for (const auto& g : key_groups_) b += g.size();
  return b;
}

}  // namespace edgerag
