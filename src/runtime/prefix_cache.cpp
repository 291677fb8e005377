#include "runtime/prefix_cache.h"

#include <algorithm>

#include "util/error.h"

namespace edgerag {

PrefixCache::PrefixCache(int block_size, std::function<void(BlockId)> retain, std::function<void(BlockId)> release)
    : block_size_(block_size), retain_(std::move(retain)), release_(std::move(release)) {
  EDGERAG_CHECK(block_size > 0, "prefix cache: block size must be positive, got {}", block_size);
}

PrefixCache::~PrefixCache() { clear(); }

uint64_t PrefixCache::chain_hash(uint64_t parent, std::span<const int32_t> block) const {
  // FNV-1a over the parent key and the block's tokens: the key names the whole prefix.
  uint64_t h = 1469598103934665603ull ^ parent;
  for (int32_t t : block) {
    auto u = static_cast<uint32_t>(t);
    for (int i = 0; i < 4; ++i) {
      h ^= (u >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  return h == 0 ? 1 : h;  // 0 is the root's parent key
}

PrefixCache::Entry* PrefixCache::find(uint64_t key, uint64_t parent, std::span<const int32_t> block) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  Entry& e = *it->second;
  if (e.parent != parent || !std::equal(e.tokens.begin(), e.tokens.end(), block.begin(), block.end())) return nullptr;
  return &e;
}

std::vector<PrefixCache::BlockId> PrefixCache::match(std::span<const int32_t> tokens, size_t max_blocks) {
  std::vector<BlockId> out;
  std::vector<Lru::iterator> hit;
  uint64_t parent = 0;
  size_t n_full = std::min(tokens.size() / block_size_, max_blocks);
  for (size_t b = 0; b < n_full; ++b) {
    auto block = tokens.subspan(b * block_size_, block_size_);
    uint64_t key = chain_hash(parent, block);
    if (!find(key, parent, block)) break;
    hit.push_back(entries_[key]);
    out.push_back(hit.back()->block);
    parent = key;
  }
  // Deepest first, so parents end up more recent than their children and a
  // chain is evicted from its tail (a child without its parent is unreachable).
  for (auto it = hit.rbegin(); it != hit.rend(); ++it) lru_.splice(lru_.begin(), lru_, *it);
  return out;
}

void PrefixCache::count_lookup(size_t looked_up, size_t matched) {
  tokens_looked_up_ += looked_up;
  tokens_matched_ += matched;
}

std::vector<PrefixCache::BlockId> PrefixCache::blocks() const {
  std::vector<BlockId> out;
  for (const auto& e : lru_) out.push_back(e.block);
  return out;
}

void PrefixCache::insert(std::span<const int32_t> tokens, std::span<const BlockId> blocks) {
  size_t n_full = std::min(tokens.size() / block_size_, blocks.size());
  std::vector<Lru::iterator> touched;
  uint64_t parent = 0;
  for (size_t b = 0; b < n_full; ++b) {
    auto block = tokens.subspan(b * block_size_, block_size_);
    uint64_t key = chain_hash(parent, block);
    if (!find(key, parent, block)) {
      if (auto old = entries_.find(key); old != entries_.end()) {
        // A different prefix with the same hash: the newer one replaces it.
        release_(old->second->block);
        lru_.erase(old->second);
        entries_.erase(old);
      }
      retain_(blocks[b]);
      lru_.push_front(Entry{key, parent, std::vector<int32_t>(block.begin(), block.end()), blocks[b]});
      entries_[key] = lru_.begin();
    }
    touched.push_back(entries_[key]);
    parent = key;
  }
  for (auto it = touched.rbegin(); it != touched.rend(); ++it) lru_.splice(lru_.begin(), lru_, *it);
}

bool PrefixCache::evict_one() {
  if (lru_.empty()) return false;
  Entry& e = lru_.back();
  release_(e.block);
  entries_.erase(e.key);
  lru_.pop_back();
  return true;
}

void PrefixCache::clear() {
  while (evict_one()) {
  }
}

double PrefixCache::hit_rate() const {
  return tokens_looked_up_ ? static_cast<double>(tokens_matched_) / tokens_looked_up_ : 0.0;
}

}  // namespace edgerag
