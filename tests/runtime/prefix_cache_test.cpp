#include "runtime/prefix_cache.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>

namespace edgerag {
namespace {

struct Refs {
  std::map<int32_t, int> n;
  PrefixCache make(int bs) {
    return PrefixCache(bs, [this](int32_t b) { n[b]++; }, [this](int32_t b) { n[b]--; });
  }
};

std::vector<int32_t> iota(int n, int start = 0) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(PrefixCache, MatchesOnlyFullBlocksOfTheSamePrefix) {
  Refs refs;
  auto cache = refs.make(4);
  auto toks = iota(10);  // blocks [0..3] [4..7], 2 tokens left over
  cache.insert(toks, std::vector<int32_t>{7, 8, 9});
  EXPECT_EQ(cache.size(), 2u);  // the partial third block is not indexed
  EXPECT_EQ(refs.n[7], 1);
  EXPECT_EQ(refs.n[8], 1);
  EXPECT_EQ(refs.n[9], 0);

  EXPECT_EQ(cache.match(toks, 10), (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(cache.match(toks, 1), (std::vector<int32_t>{7}));
  auto other = toks;
  other[5] = 99;  // second block differs
  EXPECT_EQ(cache.match(other, 10), (std::vector<int32_t>{7}));
  other[0] = 99;  // first block differs: the second is unreachable even though equal
  EXPECT_TRUE(cache.match(other, 10).empty());
  auto shifted = iota(8, 4);  // the second block's tokens at the start: a different prefix
  EXPECT_TRUE(cache.match(shifted, 10).empty());
  // match() itself counts nothing (a request that waits may be looked up again);
  // the scheduler counts one lookup per admitted request.
  EXPECT_DOUBLE_EQ(cache.hit_rate(), 0.0);
  cache.count_lookup(10, 8);
  cache.count_lookup(10, 0);
  EXPECT_DOUBLE_EQ(cache.hit_rate(), 8.0 / 20.0);
}

TEST(PrefixCache, ExistingPrefixKeepsItsBlock) {
  Refs refs;
  auto cache = refs.make(2);
  cache.insert(iota(4), std::vector<int32_t>{1, 2});
  cache.insert(iota(6), std::vector<int32_t>{5, 6, 3});  // same first two blocks computed again elsewhere
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(refs.n[5], 0);
  EXPECT_EQ(refs.n[6], 0);
  EXPECT_EQ(refs.n[3], 1);
  EXPECT_EQ(cache.match(iota(6), 3), (std::vector<int32_t>{1, 2, 3}));
}

TEST(PrefixCache, EvictsLeastRecentlyUsedChildrenBeforeParents) {
  Refs refs;
  auto cache = refs.make(2);
  cache.insert(iota(4), std::vector<int32_t>{1, 2});          // chain A: 1 -> 2
  cache.insert(iota(4, 100), std::vector<int32_t>{3, 4});     // chain B: 3 -> 4
  cache.match(iota(4), 2);                                    // A is now the most recent
  ASSERT_TRUE(cache.evict_one());
  EXPECT_EQ(refs.n[4], 0);  // B's tail first
  ASSERT_TRUE(cache.evict_one());
  EXPECT_EQ(refs.n[3], 0);
  ASSERT_TRUE(cache.evict_one());
  EXPECT_EQ(refs.n[2], 0);  // then A's tail, its head last
  EXPECT_EQ(refs.n[1], 1);
  EXPECT_EQ(cache.match(iota(4), 2), (std::vector<int32_t>{1}));
  cache.clear();
  EXPECT_EQ(refs.n[1], 0);
  EXPECT_FALSE(cache.evict_one());
}

}  // namespace
}  // namespace edgerag
