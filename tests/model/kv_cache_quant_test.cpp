// KIVI int8/int4 caches in the paged pool: byte accounting, staging of open
// blocks and attention sinks, round-trip error, copy-on-write of a shared
// partial block, truncate into a quantized block, attach.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "model/kv_cache.h"
#include "model/kv_quant.h"
#include "util/error.h"

namespace edgerag {
namespace {

constexpr int32_t kLayers = 2, kHeads = 2, kDim = 32, kBlock = 4;

KvCacheConfig kivi_config(int bits, int keep_leading, int32_t n_blocks) {
  KvCacheConfig c;
  c.n_layer = kLayers;
  c.n_head_kv = kHeads;
  c.head_dim = kDim;
  c.block_size = kBlock;
  c.type = KvType::kivi(bits, keep_leading);
  c.budget_bytes = c.block_bytes() * n_blocks;
  return c;
}

// Deterministic K/V rows per (layer, head, position); keys carry an outlier channel.
std::vector<float> make_row(bool is_v, int32_t l, int32_t h, int32_t pos) {
  std::mt19937 rng(static_cast<uint32_t>(((pos * kLayers + l) * kHeads + h) * 2 + is_v));
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> r(kDim);
  for (int c = 0; c < kDim; ++c) r[c] = nd(rng) + (!is_v && c == 5 ? 12.0f : 0.0f);
  return r;
}

void write_tokens(KvCache& kv, SeqId seq, int32_t from, int32_t to) {
  kv.reserve(seq, to - from);
  for (int32_t pos = from; pos < to; ++pos)
    for (int32_t l = 0; l < kLayers; ++l)
      for (int32_t h = 0; h < kHeads; ++h) {
        kv.write_k(kv.block_of(seq, pos), l, h, pos % kBlock, make_row(false, l, h, pos).data());
        kv.write_v(kv.block_of(seq, pos), l, h, pos % kBlock, make_row(true, l, h, pos).data());
      }
  kv.commit(seq, to - from);
}

// Largest |error| of the cached rows of `seq` against make_row, for positions [from, to).
float max_error(const KvCache& kv, SeqId seq, bool is_v, int32_t from, int32_t to) {
  std::vector<float> buf(kBlock * kDim);
  float worst = 0;
  for (int32_t pos = from; pos < to; ++pos)
    for (int32_t l = 0; l < kLayers; ++l)
      for (int32_t h = 0; h < kHeads; ++h) {
        const int32_t b = kv.block_of(seq, pos), n = std::min(kBlock, kv.seq_len(seq) - pos / kBlock * kBlock);
        const float* tile = is_v ? kv.v_tile(b, l, h, n, buf.data()) : kv.k_tile(b, l, h, n, buf.data());
        const auto ref = make_row(is_v, l, h, pos);
        for (int c = 0; c < kDim; ++c) worst = std::max(worst, std::fabs(tile[(pos % kBlock) * kDim + c] - ref[c]));
      }
  return worst;
}

// F32 keys of a block and the values of its sink slots.
size_t staging_tile_bytes(int keep_leading) {
  return size_t{kLayers} * kHeads * (kBlock + std::min(keep_leading, kBlock)) * kDim * sizeof(float);
}

TEST(KvCacheQuant, TypeNames) {
  for (const char* n : {"f32", "f16", "q8_0", "int8", "int4"}) EXPECT_EQ(kv_type_from_name(n).name(), n);
  EXPECT_EQ(kv_type_from_name("INT8"), KvType::kivi(8));
  EXPECT_EQ(kv_type_from_name("F16"), KvType(DType::F16));
  EXPECT_THROW(kv_type_from_name("int3"), Error);
  EXPECT_THROW(kv_type_from_name(""), Error);
  EXPECT_THROW(KvType::kivi(2), Error);
  EXPECT_THROW(KvType::kivi(8, -1), Error);
}

TEST(KvCacheQuant, BlockBytesPerType) {
  for (int bits : {8, 4}) {
    const auto c = kivi_config(bits, 4, 1);
    // Per (layer, head): fp16 scale + offset per key channel and the key codes; per
    // value row an fp16 scale + offset and the codes.
    const size_t codes = bits == 8 ? kDim : kDim / 2;
    EXPECT_EQ(c.block_bytes(), kLayers * kHeads * (4u * kDim + kBlock * codes + kBlock * (4 + codes)));
    EXPECT_EQ(c.block_bytes(), kLayers * kHeads * (kv_channel_bytes(kBlock, kDim, bits) + kBlock * kv_token_bytes(kDim, bits)));
  }
  KvCacheConfig f16 = kivi_config(8, 4, 1);
  f16.type = DType::F16;
  EXPECT_LT(kivi_config(8, 4, 1).bytes_per_token(), f16.bytes_per_token());
  EXPECT_LT(kivi_config(4, 4, 1).bytes_per_token(), kivi_config(8, 4, 1).bytes_per_token());
  KvCacheConfig q8 = kivi_config(8, 4, 1);
  q8.type = DType::Q8_0;  // blocks of 32 values
  q8.head_dim = 16;
  try {
    (void)q8.block_bytes();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache: element type Q8_0 cannot hold rows of 16"), std::string::npos)
        << e.what();
  }
}

TEST(KvCacheQuant, StagingFollowsOpenBlocksAndSinks) {
  KvCache kv(kivi_config(8, 2, 8));
  EXPECT_EQ(kv.staging_bytes(), 0u);
  kv.reserve(0, 10);  // 3 blocks, all open
  EXPECT_EQ(kv.n_free_blocks(), 5);
  EXPECT_EQ(kv.staging_bytes(), 3 * staging_tile_bytes(2));
  // Blocks 0 and 1 fill: block 1 is quantized and drops its staging, block 0
  // keeps it for its 2 sink tokens, block 2 is still open.
  kv.commit(0, 10);
  EXPECT_EQ(kv.staging_bytes(), 2 * staging_tile_bytes(2));
  write_tokens(kv, 0, 10, 12);
  EXPECT_EQ(kv.staging_bytes(), staging_tile_bytes(2));
  write_tokens(kv, 1, 0, 3);
  EXPECT_EQ(kv.staging_bytes(), 2 * staging_tile_bytes(2));
  EXPECT_EQ(kv.n_free_blocks(), 4);
  kv.free_sequence(0);
  kv.free_sequence(1);
  EXPECT_EQ(kv.n_free_blocks(), 8);
  EXPECT_EQ(kv.staging_bytes(), 0u);
}

TEST(KvCacheQuant, RoundTripErrorBounds) {
  for (int bits : {8, 4}) {
    KvCache kv(kivi_config(bits, 3, 8));
    write_tokens(kv, 0, 0, 7);
    write_tokens(kv, 0, 7, 14);  // blocks 0..2 full, block 3 open with 2 tokens
    // Sinks (positions 0..2) and the open block's keys are exact.
    EXPECT_EQ(max_error(kv, 0, false, 0, 3), 0.0f);
    EXPECT_EQ(max_error(kv, 0, true, 0, 3), 0.0f);
    EXPECT_EQ(max_error(kv, 0, false, 12, 14), 0.0f);
    // Quantized: half a step of the range (keys per channel over 4 tokens, values
    // per token over 32 channels of N(0,1): range ~5), plus fp16 rounding.
    const float step_k = bits == 8 ? 0.04f : 0.7f, step_v = bits == 8 ? 0.025f : 0.45f;
    const float ek = max_error(kv, 0, false, 3, 12), ev = max_error(kv, 0, true, 3, 14);
    EXPECT_GT(ek, 0.0f);
    EXPECT_GT(ev, 0.0f);
    EXPECT_LT(ek, step_k) << bits;
    EXPECT_LT(ev, step_v) << bits;
  }
}

TEST(KvCacheQuant, SinksSpanningBlocks) {
  KvCache kv(kivi_config(4, 6, 4));  // block 0 all sinks, block 1 two sinks
  write_tokens(kv, 0, 0, 12);
  EXPECT_EQ(max_error(kv, 0, false, 0, 6), 0.0f);
  EXPECT_EQ(max_error(kv, 0, true, 0, 6), 0.0f);
  EXPECT_GT(max_error(kv, 0, true, 6, 12), 0.0f);
  EXPECT_LT(max_error(kv, 0, false, 6, 12), 0.7f);
  EXPECT_LT(max_error(kv, 0, true, 6, 12), 0.45f);
  EXPECT_EQ(kv.staging_bytes(), 2 * staging_tile_bytes(6));  // blocks 0 and 1 keep their sinks
}

TEST(KvCacheQuant, SharedPartialBlockIsCopiedWithItsStaging) {
  KvCache kv(kivi_config(8, 0, 6));
  write_tokens(kv, 0, 0, 6);  // block 0 quantized, block 1 open (2 tokens)
  const auto blocks = kv.block_table(0);
  for (int32_t b : blocks) kv.retain(b);  // a prefix cache's references
  kv.attach(1, blocks, 6);
  EXPECT_EQ(kv.staging_bytes(), staging_tile_bytes(0));
  EXPECT_EQ(kv.blocks_needed(1, 2), 1);
  write_tokens(kv, 1, 6, 8);  // copy of block 1 (with its staged keys), then filled and quantized
  const auto t1 = kv.block_table(1);
  EXPECT_EQ(t1[0], blocks[0]);
  EXPECT_NE(t1[1], blocks[1]);
  EXPECT_EQ(kv.staging_bytes(), staging_tile_bytes(0));  // only sequence 0's open block
  // Sequence 0's open block still holds its exact keys; sequence 1's copy is quantized.
  EXPECT_EQ(max_error(kv, 0, false, 4, 6), 0.0f);
  EXPECT_GT(max_error(kv, 1, false, 4, 8), 0.0f);
  EXPECT_LT(max_error(kv, 1, false, 0, 8), 0.04f);
  EXPECT_LT(max_error(kv, 1, true, 0, 8), 0.025f);
  kv.free_sequence(0);
  kv.free_sequence(1);
  for (int32_t b : blocks) kv.release(b);
  EXPECT_EQ(kv.n_free_blocks(), 6);
  EXPECT_EQ(kv.staging_bytes(), 0u);
}

TEST(KvCacheQuant, TruncateIntoAQuantizedBlockReopensIt) {
  KvCache kv(kivi_config(8, 0, 8));
  write_tokens(kv, 0, 0, 8);  // two quantized blocks
  const auto blocks = kv.block_table(0);
  for (int32_t b : blocks) kv.retain(b);
  kv.attach(1, blocks, 8);
  std::vector<float> before(kBlock * kDim), buf(kBlock * kDim);
  const float* k = kv.k_tile(blocks[1], 1, 1, kBlock, buf.data());
  before.assign(k, k + kBlock * kDim);

  kv.truncate(1, 6);
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  EXPECT_EQ(kv.staging_bytes(), 0u);
  write_tokens(kv, 1, 6, 8);  // the shared block is copied, its keys dequantized, then requantized
  EXPECT_NE(kv.block_table(1)[1], blocks[1]);
  EXPECT_EQ(kv.staging_bytes(), 0u);
  EXPECT_LT(max_error(kv, 1, false, 0, 8), 0.06f);
  EXPECT_LT(max_error(kv, 1, true, 0, 8), 0.025f);
  // The other sharers' block is untouched.
  k = kv.k_tile(blocks[1], 1, 1, kBlock, buf.data());
  EXPECT_EQ(std::vector<float>(k, k + kBlock * kDim), before);

  // An exclusively owned block is reopened in place.
  kv.free_sequence(1);
  for (int32_t b : blocks) kv.release(b);
  kv.truncate(0, 5);
  EXPECT_EQ(kv.n_free_blocks(), 6);
  write_tokens(kv, 0, 5, 8);
  EXPECT_EQ(kv.block_table(0)[1], blocks[1]);
  EXPECT_LT(max_error(kv, 0, false, 0, 8), 0.06f);
  kv.truncate(0, 0);
  EXPECT_EQ(kv.n_free_blocks(), 8);
  EXPECT_EQ(kv.staging_bytes(), 0u);
}

TEST(KvCacheQuant, ExhaustionChangesNothing) {
  KvCache kv(kivi_config(4, 4, 2));
  write_tokens(kv, 0, 0, 6);
  const size_t staged = kv.staging_bytes();
  EXPECT_THROW(kv.reserve(1, 5), Error);
  EXPECT_EQ(kv.staging_bytes(), staged);
  EXPECT_FALSE(kv.has_sequence(1));
  EXPECT_EQ(kv.seq_len(0), 6);
}

}  // namespace
}  // namespace edgerag
