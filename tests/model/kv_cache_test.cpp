// Paged KV cache: allocation, release, sharing, copy-on-write, exhaustion.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "model/kv_cache.h"
#include "util/error.h"

namespace edgerag {
namespace {

KvCacheConfig small_config(int32_t n_blocks) {
  KvCacheConfig c;
  c.n_layer = 2;
  c.n_head_kv = 2;
  c.head_dim = 4;
  c.block_size = 4;
  c.budget_bytes = c.block_bytes() * n_blocks;
  return c;
}

TEST(KvCache, BudgetGivesWholeBlocks) {
  auto c = small_config(5);
  EXPECT_EQ(c.block_bytes(), 2u * 2 * 2 * 4 * 4 * sizeof(float));
  c.budget_bytes += c.block_bytes() - 1;  // a partial block is not usable
  KvCache kv(c);
  EXPECT_EQ(kv.n_blocks(), 5);
  EXPECT_EQ(kv.n_free_blocks(), 5);
  c.budget_bytes = c.block_bytes() - 1;
  EXPECT_THROW(KvCache bad(c), Error);
}

TEST(KvCache, ReserveCommitAndFreeReturnBlocks) {
  KvCache kv(small_config(6));
  kv.reserve(7, 5);  // 5 tokens -> 2 blocks of 4
  kv.commit(7, 5);
  EXPECT_EQ(kv.seq_len(7), 5);
  EXPECT_EQ(kv.block_table(7).size(), 2u);
  EXPECT_EQ(kv.n_free_blocks(), 4);
  kv.reserve(7, 3);  // fills the second block: no new block
  kv.commit(7, 3);
  EXPECT_EQ(kv.n_free_blocks(), 4);
  kv.reserve(9, 4);
  kv.commit(9, 4);
  EXPECT_EQ(kv.n_free_blocks(), 3);
  kv.free_sequence(7);
  EXPECT_EQ(kv.n_free_blocks(), 5);
  EXPECT_FALSE(kv.has_sequence(7));
  kv.free_sequence(9);
  EXPECT_EQ(kv.n_free_blocks(), 6);
}

TEST(KvCache, ExhaustionIsAClearErrorAndChangesNothing) {
  KvCache kv(small_config(2));
  kv.reserve(0, 6);
  kv.commit(0, 6);
  try {
    kv.reserve(1, 5);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache exhausted"), std::string::npos) << e.what();
  }
  EXPECT_EQ(kv.n_free_blocks(), 0);
  EXPECT_FALSE(kv.has_sequence(1));
  Batch b;
  b.add(1, 6, 0, false);
  b.add(1, 7, 0, false);
  b.add(1, 0, 1, false);
  EXPECT_THROW(kv.reserve_batch(b), Error);
  EXPECT_EQ(kv.seq_len(0), 6);
  EXPECT_EQ(kv.block_table(0).size(), 2u);
}

TEST(KvCache, SharedBlocksAreCopiedBeforeWrite) {
  KvCache kv(small_config(4));
  kv.reserve(0, 6);
  std::vector<float> row = {1, 2, 3, 4};
  for (int32_t pos = 0; pos < 6; ++pos) kv.write_k(kv.block_of(0, pos), 1, 1, pos % 4, row.data());
  kv.commit(0, 6);
  const auto blocks = kv.block_table(0);
  // A prefix cache keeps its own reference; another sequence starts from the blocks.
  for (int32_t b : blocks) kv.retain(b);
  kv.attach(1, blocks, 6);
  EXPECT_EQ(kv.ref_count(blocks[0]), 3);
  EXPECT_EQ(kv.n_free_blocks(), 2);
  // Writing position 6 of seq 1 lands in the shared, partly filled block 1: copied.
  EXPECT_EQ(kv.blocks_needed(1, 1), 1);
  kv.reserve(1, 1);
  const auto t1 = kv.block_table(1);
  EXPECT_EQ(t1[0], blocks[0]);
  EXPECT_NE(t1[1], blocks[1]);
  EXPECT_EQ(kv.ref_count(blocks[1]), 2);
  std::vector<float> b1(4 * 4), b2(4 * 4);
  EXPECT_EQ(std::memcmp(kv.k_tile(t1[1], 1, 1, 2, b1.data()), kv.k_tile(blocks[1], 1, 1, 2, b2.data()), 2 * 4 * sizeof(float)),
            0);
  kv.free_sequence(0);
  kv.free_sequence(1);
  EXPECT_EQ(kv.n_free_blocks(), 2);  // the prefix cache's references remain
  for (int32_t b : blocks) kv.release(b);
  EXPECT_EQ(kv.n_free_blocks(), 4);
  EXPECT_THROW(kv.release(blocks[0]), Error);
}

TEST(KvCache, TruncateReleasesTrailingBlocks) {
  KvCache kv(small_config(4));
  kv.reserve(3, 12);
  kv.commit(3, 12);
  kv.truncate(3, 5);
  EXPECT_EQ(kv.seq_len(3), 5);
  EXPECT_EQ(kv.block_table(3).size(), 2u);
  EXPECT_EQ(kv.n_free_blocks(), 2);
  EXPECT_THROW(kv.commit(3, 4), Error);  // beyond the reservation
}

TEST(KvCache, F16RowsRoundTrip) {
  auto c = small_config(1);
  c.type = DType::F16;
  c.budget_bytes = c.block_bytes();
  KvCache kv(c);
  EXPECT_EQ(c.block_bytes(), 2u * 2 * 2 * 4 * 4 * 2);
  kv.reserve(0, 1);
  const float row[4] = {0.5f, -1.25f, 3.0f, 1024.0f};
  kv.write_v(kv.block_of(0, 0), 0, 1, 0, row);
  float buf[4 * 4];
  const float* back = kv.v_tile(kv.block_of(0, 0), 0, 1, 1, buf);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(back[i], row[i]);
}

}  // namespace
}  // namespace edgerag
