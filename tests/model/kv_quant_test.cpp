#include "model/kv_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "util/error.h"

using namespace edgerag;

namespace {

constexpr int kDim = 64, kTokens = 260;

// Keys with a few outlier channels (large fixed offsets, as observed in LLM key
// caches), values without channel structure.
void make_kv(std::vector<float>& k, std::vector<float>& v) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 1);
  k.resize(kTokens * kDim);
  v.resize(kTokens * kDim);
  for (int t = 0; t < kTokens; ++t)
    for (int c = 0; c < kDim; ++c) {
      k[t * kDim + c] = nd(rng) + (c % 16 == 3 ? 20.0f : 0.0f);
      v[t * kDim + c] = nd(rng);
    }
}

double rms(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s / a.size());
}

}  // namespace

TEST(KvQuant, PerChannelKeysBeatPerTokenOnOutlierChannels) {
  std::vector<float> k, v;
  make_kv(k, v);
  for (int bits : {8, 4}) {
    std::vector<float> per_channel(k.size()), per_token(k.size());
    std::vector<uint8_t> buf(kv_channel_bytes(kTokens, kDim, bits));
    kv_quantize_channels(k.data(), kTokens, kDim, bits, buf.data());
    kv_dequantize_channels(buf.data(), kTokens, kDim, bits, per_channel.data());
    std::vector<uint8_t> tb(kv_token_bytes(kDim, bits));
    for (int t = 0; t < kTokens; ++t) {
      kv_quantize_token(&k[t * kDim], kDim, bits, tb.data());
      kv_dequantize_token(tb.data(), kDim, bits, &per_token[t * kDim]);
    }
    EXPECT_LT(rms(k, per_channel), 0.5 * rms(k, per_token)) << bits;
    // Round-to-nearest bound: half a step of a channel's range (~8 sigma here).
    EXPECT_LT(rms(k, per_channel), bits == 8 ? 0.02 : 0.35) << bits;
  }
}

TEST(KvQuant, HeadStoresLeadingTokensExactlyAndSavesMemory) {
  std::vector<float> k, v;
  make_kv(k, v);
  for (int bits : {8, 4}) {
    KvQuantOptions opt;
    opt.bits = bits;
    QuantizedKvHead head(kDim, opt);
    for (int t = 0; t < kTokens; ++t) head.append(&k[t * kDim], &v[t * kDim]);
    ASSERT_EQ(head.size(), kTokens);
    std::vector<float> kk(k.size()), vv(v.size());
    for (int t = 0; t < kTokens; ++t) {
      head.key(t, &kk[t * kDim]);
      head.value(t, &vv[t * kDim]);
    }
    for (int i = 0; i < opt.keep_leading * kDim; ++i) {
      ASSERT_EQ(kk[i], k[i]);
      ASSERT_EQ(vv[i], v[i]);
    }
    // 256 quantized tokens = 8 full key groups; values per token.
    EXPECT_LT(rms(k, kk), bits == 8 ? 0.02 : 0.35);
    EXPECT_LT(rms(v, vv), bits == 8 ? 0.02 : 0.3);
    // 4 float tokens, 8 key groups (fp16 scale + offset per channel), 256 value rows.
    const size_t codes = bits == 8 ? kDim : kDim / 2;
    EXPECT_EQ(head.bytes(), 4u * 2 * kDim * 4 + 8 * (4 * kDim + 32 * codes) + 256 * (4 + codes));
    const double saving = 2.0 * kTokens * kDim * 2 / head.bytes();  // vs an F16 cache
    EXPECT_GT(saving, bits == 8 ? 1.7 : 3.0);
    EXPECT_THROW(head.key(kTokens, kk.data()), edgerag::Error);
  }
  KvQuantOptions bad;
  bad.bits = 3;
  EXPECT_THROW(QuantizedKvHead(kDim, bad), edgerag::Error);
}
