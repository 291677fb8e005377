// Content-addressed index of computed KV blocks. A full block is keyed by the
// whole token prefix it ends (a chain hash over the parent block's key and its
// own tokens), so requests that share a prefix (system prompt, a repeated
// context chunk) find the blocks already computed and share them instead of
// prefilling again. Only full blocks are indexed: a shared block is never
// written by the sequences that adopt it, which is what makes sharing safe.
// The cache holds one block reference per entry and drops the least recently
// used entries when the block pool runs short.
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace edgerag {

class PrefixCache {
 public:
  using BlockId = int32_t;
  // retain/release take and drop the cache's reference on a pool block.
  PrefixCache(int block_size, std::function<void(BlockId)> retain, std::function<void(BlockId)> release);
  ~PrefixCache();
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  int block_size() const { return block_size_; }

  // Blocks holding the longest cached prefix of `tokens`, at most `max_blocks`
  // full blocks; they become the most recently used.
  std::vector<BlockId> match(std::span<const int32_t> tokens, size_t max_blocks);
  // One lookup toward hit_rate(): a prompt of `looked_up` tokens of which
  // `matched` came from the cache (counted once per admitted request).
  void count_lookup(size_t looked_up, size_t matched);
  std::vector<BlockId> blocks() const;  // one per entry

  // Records that the i-th full block of `tokens` lives in blocks[i]. Prefixes
  // already cached keep their existing block.
  void insert(std::span<const int32_t> tokens, std::span<const BlockId> blocks);

  // Drops the least recently used entry (releasing its block); false if empty.
  bool evict_one();
  void clear();

  size_t size() const { return entries_.size(); }
  double hit_rate() const;  // matched / looked-up prompt tokens

 private:
  struct Entry {
    uint64_t key;
    uint64_t parent;
    std::vector<int32_t> tokens;  // kept to rule out hash collisions
    BlockId block;
  };
  using Lru = std::list<Entry>;  // front = most recently used

  uint64_t chain_hash(uint64_t parent, std::span<const int32_t> block) const;
  Entry* find(uint64_t key, uint64_t parent, std::span<const int32_t> block);

  int block_size_;
  std::function<void(BlockId)> retain_, release_;
  Lru lru_;
  std::unordered_map<uint64_t, Lru::iterator> entries_;
  uint64_t tokens_looked_up_ = 0, tokens_matched_ = 0;
};

}  // namespace edgerag
