// KV-cache quantization (KIVI-style, Liu et al. 2024): keys per channel (their
// outliers sit in fixed channels, so each channel gets its own scale over a
// group of tokens), values per token; int8 or int4 asymmetric codes with fp16
// scale/offset; the first few tokens (attention sinks) stay in full precision.
// The routines serve both the paged KvCache (int8/int4 cache types: one key
// group per cache block) and the standalone QuantizedKvHead.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgerag {

struct KvQuantOptions {
  int bits = 8;          // 8 or 4
  int key_group = 32;    // tokens sharing one per-channel key scale; a partial group stays float
  int keep_leading = 4;  // leading tokens kept in full precision
};

// Throws edgerag::Error unless bits is 8 or 4.
void check_kv_bits(int bits);

// --- building blocks (x is [n_tokens][dim] row-major)
// Per-channel: fp16 d[dim], m[dim], then the codes of the n_tokens rows, row-major, packed
// (int4: two per byte, low nibble first).
size_t kv_channel_bytes(int n_tokens, int dim, int bits);
void kv_quantize_channels(const float* x, int n_tokens, int dim, int bits, uint8_t* dst);
void kv_dequantize_channels(const uint8_t* src, int n_tokens, int dim, int bits, float* x);
// Per-token: fp16 d, m for the row, then its codes.
size_t kv_token_bytes(int dim, int bits);
void kv_quantize_token(const float* x, int dim, int bits, uint8_t* dst);
void kv_dequantize_token(const uint8_t* src, int dim, int bits, float* x);

// The K/V stream of one (layer, KV head) of one sequence.
class QuantizedKvHead {
 public:
  QuantizedKvHead(int head_dim, const KvQuantOptions& opt);
  void append(const float* k, const float* v);
  int size() const { return n_; }
  void key(int t, float* out) const;
  void value(int t, float* out) const;
  size_t bytes() const;  // bytes held (full-precision parts counted as F32)

 private:
  int dim_, n_ = 0;
  KvQuantOptions opt_;
  std::vector<float> lead_k_, lead_v_, pending_k_;
  std::vector<std::vector<uint8_t>> key_groups_;
  std::vector<uint8_t> values_;
};

}  // namespace edgerag
