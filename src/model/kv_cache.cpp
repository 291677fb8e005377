#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "util/error.h"

namespace edgerag {

KvCacheConfig KvCacheConfig::for_model(const HParams& hp, int64_t n_tokens, DType type, int32_t block_size) {
  KvCacheConfig c;
  c.n_layer = hp.n_layer;
  c.n_head_kv = hp.n_head_kv;
  c.head_dim = hp.head_dim;
  c.block_size = block_size;
  c.type = type;
  const int64_t blocks = (std::max<int64_t>(n_tokens, 1) + block_size - 1) / block_size;
  c.budget_bytes = static_cast<size_t>(blocks) * c.block_bytes();
  return c;
}

size_t KvCacheConfig::block_bytes() const {
  return 2 * static_cast<size_t>(n_layer) * n_head_kv * block_size * row_size(type, head_dim);
}

KvCache::KvCache(const KvCacheConfig& cfg) : cfg_(cfg) {
  EDGERAG_CHECK(cfg.n_layer > 0 && cfg.n_head_kv > 0 && cfg.head_dim > 0 && cfg.block_size > 0,
                "KV cache: invalid shape (layers {}, kv heads {}, head dim {}, block size {})", cfg.n_layer,
                cfg.n_head_kv, cfg.head_dim, cfg.block_size);
  const auto& tr = dtype_traits(cfg.type);
  EDGERAG_CHECK(tr.supported && tr.block_size > 0 && cfg.head_dim % tr.block_size == 0,
                "KV cache: element type {} cannot hold rows of {} values", tr.name, cfg.head_dim);
  row_bytes_ = row_size(cfg.type, cfg.head_dim);
  block_bytes_ = cfg.block_bytes();
  const size_t n = cfg.budget_bytes / block_bytes_;
  EDGERAG_CHECK(n > 0, "KV cache: budget of {} bytes is smaller than one block ({} bytes)", cfg.budget_bytes,
                block_bytes_);
  EDGERAG_CHECK(n < (size_t{1} << 30), "KV cache: budget of {} bytes is too large", cfg.budget_bytes);
  n_blocks_ = static_cast<int32_t>(n);
  pool_.reset(new uint8_t[n * block_bytes_]);
  refs_.assign(n, 0);
  free_.reserve(n);
  // Lowest block ids are handed out first (pop from the back).
  for (int32_t b = n_blocks_ - 1; b >= 0; --b) free_.push_back(b);
}

int32_t KvCache::seq_len(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.len;
}

const std::vector<int32_t>& KvCache::block_table(SeqId seq) const {
  static const std::vector<int32_t> empty;
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? empty : it->second.blocks;
}

std::vector<SeqId> KvCache::sequences() const {
  std::vector<SeqId> out;
  for (const auto& [id, s] : seqs_) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

void KvCache::free_sequence(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  for (int32_t b : it->second.blocks) release(b);
  seqs_.erase(it);
}

void KvCache::truncate(SeqId seq, int32_t n_tokens) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  Seq& s = it->second;
  EDGERAG_CHECK(n_tokens >= 0, "KV cache: cannot truncate sequence {} to {} tokens", seq, n_tokens);
  if (n_tokens >= s.len) return;
  const size_t keep = static_cast<size_t>((n_tokens + cfg_.block_size - 1) / cfg_.block_size);
  while (s.blocks.size() > keep) {
    release(s.blocks.back());
    s.blocks.pop_back();
  }
  s.len = n_tokens;
}

int32_t KvCache::blocks_needed(SeqId seq, int32_t n_new) const {
  if (n_new <= 0) return 0;
  const int32_t len = seq_len(seq);
  const auto& blocks = block_table(seq);
  const int64_t have = static_cast<int64_t>(blocks.size()) * cfg_.block_size;
  const int64_t need_tokens = static_cast<int64_t>(len) + n_new;
  int64_t n = need_tokens > have ? (need_tokens - have + cfg_.block_size - 1) / cfg_.block_size : 0;
  // The partly filled last block gets written: a shared one is copied first.
  if (len % cfg_.block_size != 0 && ref_count(blocks[len / cfg_.block_size]) > 1) ++n;
  return static_cast<int32_t>(n);
}

void KvCache::reserve(SeqId seq, int32_t n_new) {
  EDGERAG_CHECK(n_new >= 0, "KV cache: negative token count {}", n_new);
  const int32_t need = blocks_needed(seq, n_new);
  EDGERAG_CHECK(need <= n_free_blocks(),
                "KV cache exhausted: sequence {} needs {} more blocks of {} tokens, {} of {} free ({} bytes budget)",
                seq, need, cfg_.block_size, n_free_blocks(), n_blocks_, cfg_.budget_bytes);
  Seq& s = seqs_[seq];
  if (s.len % cfg_.block_size != 0) {
    int32_t& last = s.blocks[s.len / cfg_.block_size];
    if (refs_[last] > 1) {  // copy-on-write
      const int32_t copy = alloc_block();
      std::memcpy(pool_.get() + copy * block_bytes_, pool_.get() + last * block_bytes_, block_bytes_);
      release(last);
      last = copy;
    }
  }
  while (static_cast<int64_t>(s.blocks.size()) * cfg_.block_size < static_cast<int64_t>(s.len) + n_new)
    s.blocks.push_back(alloc_block());
}

void KvCache::reserve_batch(const Batch& batch) {
  std::map<SeqId, int32_t> counts;
  for (const auto& t : batch.tokens) ++counts[t.seq];
  int64_t total = 0;
  for (const auto& [seq, n] : counts) total += blocks_needed(seq, n);
  EDGERAG_CHECK(total <= n_free_blocks(),
                "KV cache exhausted: batch of {} tokens needs {} more blocks of {} tokens, {} of {} free "
                "({} bytes budget)",
                batch.size(), total, cfg_.block_size, n_free_blocks(), n_blocks_, cfg_.budget_bytes);
  for (const auto& [seq, n] : counts) reserve(seq, n);
}

void KvCache::commit(SeqId seq, int32_t n_new) {
  auto it = seqs_.find(seq);
  EDGERAG_CHECK(it != seqs_.end(), "KV cache: commit to unknown sequence {}", seq);
  Seq& s = it->second;
  EDGERAG_CHECK(n_new >= 0 && static_cast<int64_t>(s.len) + n_new <= static_cast<int64_t>(s.blocks.size()) * cfg_.block_size,
                "KV cache: commit of {} tokens to sequence {} exceeds its reservation", n_new, seq);
  s.len += n_new;
}

void KvCache::attach(SeqId seq, std::span<const int32_t> blocks, int32_t n_tokens) {
  EDGERAG_CHECK(seq_len(seq) == 0 && block_table(seq).empty(), "KV cache: attach to non-empty sequence {}", seq);
  EDGERAG_CHECK(n_tokens >= 0 && static_cast<int64_t>(n_tokens) <= static_cast<int64_t>(blocks.size()) * cfg_.block_size,
                "KV cache: {} tokens do not fit in {} blocks", n_tokens, blocks.size());
  for (int32_t b : blocks)
    EDGERAG_CHECK(b >= 0 && b < n_blocks_ && refs_[b] > 0, "KV cache: attach of unallocated block {}", b);
  Seq& s = seqs_[seq];
  for (int32_t b : blocks) {
    ++refs_[b];
    s.blocks.push_back(b);
  }
  s.len = n_tokens;
}

void KvCache::retain(int32_t block) {
  EDGERAG_CHECK(block >= 0 && block < n_blocks_ && refs_[block] > 0, "KV cache: retain of unallocated block {}", block);
  ++refs_[block];
}

void KvCache::release(int32_t block) {
  EDGERAG_CHECK(block >= 0 && block < n_blocks_ && refs_[block] > 0, "KV cache: release of unallocated block {}",
                block);
  if (--refs_[block] == 0) free_.push_back(block);
}

int32_t KvCache::ref_count(int32_t block) const {
  EDGERAG_CHECK(block >= 0 && block < n_blocks_, "KV cache: block {} out of range", block);
  return refs_[block];
}

int32_t KvCache::alloc_block() {
  EDGERAG_CHECK(!free_.empty(), "KV cache exhausted: all {} blocks in use", n_blocks_);
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

uint8_t* KvCache::row(int32_t block, int32_t layer, int kv, int32_t head, int32_t slot) const {
  const size_t idx = ((static_cast<size_t>(layer) * 2 + kv) * cfg_.n_head_kv + head) * cfg_.block_size + slot;
  return pool_.get() + static_cast<size_t>(block) * block_bytes_ + idx * row_bytes_;
}

uint8_t* KvCache::k_row(int32_t b, int32_t l, int32_t h, int32_t s) { return row(b, l, 0, h, s); }
uint8_t* KvCache::v_row(int32_t b, int32_t l, int32_t h, int32_t s) { return row(b, l, 1, h, s); }
const uint8_t* KvCache::k_row(int32_t b, int32_t l, int32_t h, int32_t s) const { return row(b, l, 0, h, s); }
const uint8_t* KvCache::v_row(int32_t b, int32_t l, int32_t h, int32_t s) const { return row(b, l, 1, h, s); }

static void store_row(DType type, const float* src, uint8_t* dst, int64_t n) {
  if (type == DType::F32) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  else quantize_row(type, src, dst, n);
}

void KvCache::write_k(int32_t b, int32_t l, int32_t h, int32_t s, const float* src) {
  store_row(cfg_.type, src, k_row(b, l, h, s), cfg_.head_dim);
}
void KvCache::write_v(int32_t b, int32_t l, int32_t h, int32_t s, const float* src) {
  store_row(cfg_.type, src, v_row(b, l, h, s), cfg_.head_dim);
}

int32_t KvCache::block_of(SeqId seq, int32_t pos) const {
  const auto& blocks = block_table(seq);
  EDGERAG_CHECK(pos >= 0 && pos / cfg_.block_size < static_cast<int32_t>(blocks.size()),
                "KV cache: position {} of sequence {} is not reserved", pos, seq);
  return blocks[pos / cfg_.block_size];
}

}  // namespace edgerag
