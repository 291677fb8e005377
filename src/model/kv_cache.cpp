#include "model/kv_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include "model/kv_quant.h"
#include "util/error.h"

namespace edgerag {

KvType KvType::kivi(int bits, int keep_leading) {
  check_kv_bits(bits);
  EDGERAG_CHECK(keep_leading >= 0, "KV cache: negative count of full-precision leading tokens {}", keep_leading);
  KvType t;
  t.kivi_bits = bits;
  t.keep_leading = keep_leading;
  return t;
}

std::string KvType::name() const {
  if (is_kivi()) return kivi_bits == 8 ? "int8" : "int4";
  std::string n = dtype_name(row);
  for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n;
}

KvType kv_type_from_name(std::string_view name) {
  std::string low(name);
  for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (low == "int8") return KvType::kivi(8);
  if (low == "int4") return KvType::kivi(4);
  DType t;
  EDGERAG_CHECK(dtype_from_name(low, &t) && dtype_traits(t).supported,
                "unknown KV cache type '{}' (f32, f16, q8_0, int8, int4, ...)", name);
  return t;
}

KvCacheConfig KvCacheConfig::for_model(const HParams& hp, int64_t n_tokens, KvType type, int32_t block_size) {
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
  const size_t heads = static_cast<size_t>(n_layer) * n_head_kv;
  if (type.is_kivi())
    return heads * (kv_channel_bytes(block_size, head_dim, type.kivi_bits) +
                    block_size * kv_token_bytes(head_dim, type.kivi_bits));
  const auto& tr = dtype_traits(type.row);
  EDGERAG_CHECK(tr.supported && tr.block_size > 0 && head_dim % tr.block_size == 0,
                "KV cache: element type {} cannot hold rows of {} values (head_dim)", tr.name, head_dim);
  return 2 * heads * block_size * row_size(type.row, head_dim);
}

KvCache::KvCache(const KvCacheConfig& cfg) : cfg_(cfg) {
  EDGERAG_CHECK(cfg.n_layer > 0 && cfg.n_head_kv > 0 && cfg.head_dim > 0 && cfg.block_size > 0,
                "KV cache: invalid shape (layers {}, kv heads {}, head dim {}, block size {})", cfg.n_layer,
                cfg.n_head_kv, cfg.head_dim, cfg.block_size);
  const KvType& type = cfg.type;
  if (type.is_kivi()) {
    check_kv_bits(type.kivi_bits);
    EDGERAG_CHECK(type.keep_leading >= 0, "KV cache: negative count of full-precision leading tokens {}",
                  type.keep_leading);
  }
  block_bytes_ = cfg.block_bytes();  // checks that row types fit head_dim
  if (type.is_kivi()) {
    k_part_bytes_ = kv_channel_bytes(cfg.block_size, cfg.head_dim, type.kivi_bits);
    v_part_bytes_ = cfg.block_size * kv_token_bytes(cfg.head_dim, type.kivi_bits);
  } else {
    row_bytes_ = row_size(type.row, cfg.head_dim);
    k_part_bytes_ = v_part_bytes_ = cfg.block_size * row_bytes_;
    tiled_keys_ = (type.row == DType::F32 || type.row == DType::F16) && cfg.block_size % kKvKeyTile == 0;
  }
  const size_t n = cfg.budget_bytes / block_bytes_;
  EDGERAG_CHECK(n > 0, "KV cache: budget of {} bytes is smaller than one block ({} bytes)", cfg.budget_bytes,
                block_bytes_);
  EDGERAG_CHECK(n < (size_t{1} << 30), "KV cache: budget of {} bytes is too large", cfg.budget_bytes);
  n_blocks_ = static_cast<int32_t>(n);
  // Attention reads one (layer, head) part of each of a sequence's blocks in
  // turn: adjacent for blocks handed out in order, anywhere in the region
  // otherwise, where 4 KiB pages make each a TLB miss, so the pool asks for
  // transparent huge pages (the kernel ignores the hint when it has none).
  const size_t bytes = n * block_bytes_;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  EDGERAG_CHECK(p != MAP_FAILED, "KV cache: cannot map a pool of {} bytes", bytes);
  ::madvise(p, bytes, MADV_HUGEPAGE);
  pool_ = std::unique_ptr<uint8_t[], KvPoolUnmap>(static_cast<uint8_t*>(p), KvPoolUnmap{bytes});
  refs_.assign(n, 0);
  if (type.is_kivi()) kivi_.resize(n);
  free_.reserve(n);
  // Lowest block ids are handed out first (pop from the back).
  for (int32_t b = n_blocks_ - 1; b >= 0; --b) free_.push_back(b);
}

void KvPoolUnmap::operator()(uint8_t* p) const { ::munmap(p, bytes); }

int32_t KvCache::seq_len(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.len;
}

const std::vector<int32_t>& KvCache::block_table(SeqId seq) const {
  static const std::vector<int32_t> empty;
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? empty : it->second.blocks;
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
  if (s.len % cfg_.block_size != 0 && n_new > 0) {
    int32_t& last = s.blocks[s.len / cfg_.block_size];
    if (refs_[last] > 1) {  // copy-on-write
      const int32_t copy = alloc_block();
      copy_block(last, copy);
      release(last);
      last = copy;
    }
    if (cfg_.type.is_kivi()) open_block(last);  // e.g. a full block cut short by truncate
  }
  while (static_cast<int64_t>(s.blocks.size()) * cfg_.block_size < static_cast<int64_t>(s.len) + n_new) {
    const int32_t b = alloc_block();
    if (cfg_.type.is_kivi()) {
      const int64_t first = static_cast<int64_t>(s.blocks.size()) * cfg_.block_size;
      kivi_[b].n_sink = static_cast<int32_t>(std::clamp<int64_t>(cfg_.type.keep_leading - first, 0, cfg_.block_size));
      open_block(b);
    }
    s.blocks.push_back(b);
  }
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
  const int32_t first_full = s.len / cfg_.block_size;
  s.len += n_new;
  if (cfg_.type.is_kivi())
    for (int32_t i = first_full; i < s.len / cfg_.block_size; ++i) close_block(s.blocks[i]);
}

void KvCache::prepare_rewrite(SeqId seq, int32_t from, int32_t to) {
  auto it = seqs_.find(seq);
  EDGERAG_CHECK(it != seqs_.end() && from >= 0 && from <= to && to <= it->second.len,
                "KV cache: cannot rewrite positions [{}, {}) of sequence {} (length {})", from, to, seq, seq_len(seq));
  if (from == to) return;
  Seq& s = it->second;
  const int32_t b0 = from / cfg_.block_size, b1 = (to - 1) / cfg_.block_size + 1;
  int32_t shared = 0;
  for (int32_t b = b0; b < b1; ++b) shared += refs_[s.blocks[b]] > 1;
  EDGERAG_CHECK(shared <= n_free_blocks(), "KV cache exhausted: rewriting sequence {} needs {} block copies, {} free",
                seq, shared, n_free_blocks());
  for (int32_t b = b0; b < b1; ++b) {
    int32_t& blk = s.blocks[b];
    if (refs_[blk] > 1) {  // copy-on-write
      const int32_t copy = alloc_block();
      copy_block(blk, copy);
      release(blk);
      blk = copy;
    }
    if (cfg_.type.is_kivi()) open_block(blk);
  }
}

void KvCache::finish_rewrite(SeqId seq, int32_t from, int32_t to) {
  if (!cfg_.type.is_kivi() || from >= to) return;
  const Seq& s = seqs_.at(seq);
  // Full blocks close again; the sequence's last, partly filled block stays open.
  for (int32_t b = from / cfg_.block_size; b <= (to - 1) / cfg_.block_size; ++b)
    if ((b + 1) * cfg_.block_size <= s.len) close_block(s.blocks[b]);
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
  if (--refs_[block] > 0) return;
  if (cfg_.type.is_kivi()) {
    unstage(block);
    kivi_[block] = Kivi{};
  }
  free_.push_back(block);
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

void KvCache::copy_block(int32_t from, int32_t to) {
  const size_t kv_bytes = k_part_bytes_ + v_part_bytes_;
  for (int32_t l = 0; l < cfg_.n_layer; ++l)
    for (int32_t h = 0; h < cfg_.n_head_kv; ++h) std::memcpy(part(to, l, 0, h), part(from, l, 0, h), kv_bytes);
  if (device_) device_->copy_block(from, to);
  if (!cfg_.type.is_kivi()) return;
  const Kivi& src = kivi_[from];
  Kivi& dst = kivi_[to];
  dst.n_sink = src.n_sink;
  dst.open = src.open;
  dst.keys_quantized = src.keys_quantized;
  if (src.staged) {
    stage(to);
    std::copy_n(src.staged.get(), staging_floats(), dst.staged.get());
  }
}

uint8_t* KvCache::part(int32_t block, int32_t layer, int kv, int32_t head) const {
  const size_t lane = static_cast<size_t>(layer) * cfg_.n_head_kv + head;  // (layer, head) region
  const size_t kv_bytes = k_part_bytes_ + v_part_bytes_;
  return pool_.get() + (lane * n_blocks_ + block) * kv_bytes + (kv ? k_part_bytes_ : 0);
}

int32_t KvCache::staged_value_rows() const { return std::min(cfg_.type.keep_leading, cfg_.block_size); }

size_t KvCache::staging_floats() const {
  return static_cast<size_t>(cfg_.n_layer) * cfg_.n_head_kv * (cfg_.block_size + staged_value_rows()) * cfg_.head_dim;
}

float* KvCache::staged(int32_t block, int32_t layer, int kv, int32_t head, int32_t slot) const {
  const size_t heads = static_cast<size_t>(cfg_.n_layer) * cfg_.n_head_kv, lh = static_cast<size_t>(layer) * cfg_.n_head_kv + head;
  const size_t row = kv == 0 ? lh * cfg_.block_size + slot : heads * cfg_.block_size + lh * staged_value_rows() + slot;
  return kivi_[block].staged.get() + row * cfg_.head_dim;
}

void KvCache::stage(int32_t block) {
  std::unique_ptr<float[]>& tile = kivi_[block].staged;
  if (tile) return;
  if (spare_.empty()) {
    tile = std::make_unique<float[]>(staging_floats());  // zeroed: never reads indeterminate floats
  } else {
    tile = std::move(spare_.back());
    spare_.pop_back();
  }
  ++n_staged_;
}

void KvCache::unstage(int32_t block) {
  std::unique_ptr<float[]>& tile = kivi_[block].staged;
  if (!tile) return;
  spare_.push_back(std::move(tile));
  --n_staged_;
}

void KvCache::open_block(int32_t block) {
  Kivi& st = kivi_[block];
  if (st.open) return;
  stage(block);
  if (st.keys_quantized)
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
      for (int32_t h = 0; h < cfg_.n_head_kv; ++h)
        kv_dequantize_channels(part(block, l, 0, h), cfg_.block_size - st.n_sink, cfg_.head_dim, cfg_.type.kivi_bits,
                               staged(block, l, 0, h, st.n_sink));
  st.keys_quantized = false;
  st.open = true;
}

void KvCache::quantize_keys(int32_t block, int32_t layer, int32_t head) {
  const Kivi& st = kivi_[block];
  kv_quantize_channels(staged(block, layer, 0, head, st.n_sink), cfg_.block_size - st.n_sink, cfg_.head_dim,
                       cfg_.type.kivi_bits, part(block, layer, 0, head));
}

void KvCache::close_block(int32_t block) {
  Kivi& st = kivi_[block];
  st.open = false;
  if (st.n_sink == cfg_.block_size) return;  // an all-sink block stays in staging
  if (!st.keys_quantized) {  // filled without its last slot written (reserve/commit alone)
    for (int32_t l = 0; l < cfg_.n_layer; ++l)
      for (int32_t h = 0; h < cfg_.n_head_kv; ++h) quantize_keys(block, l, h);
    st.keys_quantized = true;
  }
  if (st.n_sink == 0) unstage(block);
}

void KvCache::write(int kv, int32_t b, int32_t l, int32_t h, int32_t s, const float* src) {
  const int32_t hd = cfg_.head_dim;
  uint8_t* dst = part(b, l, kv, h);
  if (!cfg_.type.is_kivi()) {
    if (kv == 0 && tiled_keys_) {  // lane s % kKvKeyTile of every dimension's row of its key tile
      const size_t es = dtype_traits(cfg_.type.row).type_size;  // F32 / F16: bytes per element
      uint8_t* t = dst + (static_cast<size_t>(s / kKvKeyTile) * hd * kKvKeyTile + s % kKvKeyTile) * es;
      uint8_t row[64 * sizeof(float)];  // converted a vector at a time, then spread over the tile's rows
      for (int32_t d0 = 0; d0 < hd; d0 += 64) {
        const int32_t n = std::min(64, hd - d0);
        quantize_row(cfg_.type.row, src + d0, row, n);
        for (int32_t d = 0; d < n; ++d) std::memcpy(t + static_cast<size_t>(d0 + d) * kKvKeyTile * es, row + d * es, es);
      }
      return;
    }
    if (cfg_.type.row == DType::F32) std::memcpy(dst + s * row_bytes_, src, hd * sizeof(float));
    else quantize_row(cfg_.type.row, src, dst + s * row_bytes_, hd);
    return;
  }
  Kivi& st = kivi_[b];
  EDGERAG_CHECK(st.open, "KV cache: block {} is not reserved for writing", b);
  const int bits = cfg_.type.kivi_bits;
  if (kv == 1 && s >= st.n_sink) return kv_quantize_token(src, hd, bits, dst + s * kv_token_bytes(hd, bits));
  std::memcpy(staged(b, l, kv, h, s), src, hd * sizeof(float));
  // The last slot completes the block's keys of this (layer, head): quantize them
  // now, so later queries in the same batch read them as decode steps would.
  if (kv == 0 && s == cfg_.block_size - 1 && st.n_sink < cfg_.block_size) {
    quantize_keys(b, l, h);
    st.keys_quantized = true;
  }
}

void KvCache::write_k(int32_t b, int32_t l, int32_t h, int32_t s, const float* src) { write(0, b, l, h, s, src); }
void KvCache::write_v(int32_t b, int32_t l, int32_t h, int32_t s, const float* src) { write(1, b, l, h, s, src); }

const float* KvCache::tile(int kv, int32_t b, int32_t l, int32_t h, int32_t n, float* buf, bool query_block) const {
  const int32_t hd = cfg_.head_dim;
  const uint8_t* src = part(b, l, kv, h);
  if (!cfg_.type.is_kivi()) {
    if (kv == 0 && tiled_keys_) {  // key tiles back to rows: gathered, then widened
      const size_t es = dtype_traits(cfg_.type.row).type_size;
      uint8_t row[64 * sizeof(float)];
      for (int32_t j = 0; j < n; ++j) {
        const uint8_t* t = src + (static_cast<size_t>(j / kKvKeyTile) * hd * kKvKeyTile + j % kKvKeyTile) * es;
        for (int32_t d0 = 0; d0 < hd; d0 += 64) {
          const int32_t m = std::min(64, hd - d0);
          for (int32_t d = 0; d < m; ++d) std::memcpy(row + d * es, t + static_cast<size_t>(d0 + d) * kKvKeyTile * es, es);
          dequantize_row(cfg_.type.row, row, buf + static_cast<size_t>(j) * hd + d0, m);
        }
      }
      return buf;
    }
    if (cfg_.type.row == DType::F32) return reinterpret_cast<const float*>(src);
    // Rows lie back to back (head_dim is a whole number of the type's blocks): one call decodes them all.
    dequantize_row(cfg_.type.row, src, buf, static_cast<int64_t>(n) * hd);
    return buf;
  }
  const Kivi& st = kivi_[b];
  const bool full_keys = kv == 0 && (!st.keys_quantized || (query_block && st.open));
  if (full_keys || n <= st.n_sink) return staged(b, l, kv, h, 0);
  const int bits = cfg_.type.kivi_bits;
  std::copy_n(staged(b, l, kv, h, 0), static_cast<size_t>(st.n_sink) * hd, buf);
  float* rest = buf + static_cast<size_t>(st.n_sink) * hd;
  if (kv == 0) {
    kv_dequantize_channels(src, cfg_.block_size - st.n_sink, hd, bits, rest);
  } else {
    const size_t tb = kv_token_bytes(hd, bits);
    for (int32_t j = st.n_sink; j < n; ++j) kv_dequantize_token(src + j * tb, hd, bits, buf + static_cast<size_t>(j) * hd);
  }
  return buf;
}

const float* KvCache::k_tile(int32_t b, int32_t l, int32_t h, int32_t n, float* buf, bool query_block) const {
  return tile(0, b, l, h, n, buf, query_block);
}
const float* KvCache::v_tile(int32_t b, int32_t l, int32_t h, int32_t n, float* buf) const {
  return tile(1, b, l, h, n, buf, false);
}

void KvCache::prefetch(int32_t b, int32_t l, int32_t h) const {
  constexpr size_t kLine = 64;
  for (int kv = 0; kv < 2; ++kv) {
    const uint8_t* p = part(b, l, kv, h);
    const size_t bytes = kv ? v_part_bytes_ : k_part_bytes_;
    for (size_t off = 0; off < bytes; off += kLine) __builtin_prefetch(p + off, 0, 3);
  }
}

int32_t KvCache::block_of(SeqId seq, int32_t pos) const {
  const auto& blocks = block_table(seq);
  EDGERAG_CHECK(pos >= 0 && pos / cfg_.block_size < static_cast<int32_t>(blocks.size()),
                "KV cache: position {} of sequence {} is not reserved", pos, seq);
  return blocks[pos / cfg_.block_size];
}

}  // namespace edgerag
