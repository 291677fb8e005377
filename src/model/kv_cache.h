// Paged KV cache: a pool of fixed-size blocks (block_size token slots, every
// layer and KV head) sized by a memory budget. Each sequence owns a block
// table mapping positions to blocks. Blocks are reference counted so a prefix
// cache can share full blocks between sequences; writing into a shared block
// copies it first (copy-on-write). Freeing a sequence releases its blocks.
//
// Block layout: [layer][K|V][kv_head][slot][head_dim], each row of head_dim
// elements stored as `type` (F32 or F16 now; quantized types when head_dim is
// a multiple of their block size), so one head's keys of a block are contiguous.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "model/batch.h"
#include "model/hparams.h"
#include "tensor/dtype.h"

namespace edgerag {

struct KvCacheConfig {
  int32_t n_layer = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t block_size = 16;       // token slots per block
  DType type = DType::F32;       // element type of K and V rows
  size_t budget_bytes = 0;       // pool size; rounded down to whole blocks

  // Shape from the model; budget = enough blocks for n_tokens tokens in total.
  static KvCacheConfig for_model(const HParams& hp, int64_t n_tokens, DType type = DType::F32,
                                 int32_t block_size = 16);
  size_t block_bytes() const;
};

class KvCache {
 public:
  explicit KvCache(const KvCacheConfig& cfg);  // throws if the budget holds no block
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheConfig& config() const { return cfg_; }
  int32_t block_size() const { return cfg_.block_size; }
  int32_t n_blocks() const { return n_blocks_; }
  int32_t n_free_blocks() const { return static_cast<int32_t>(free_.size()); }
  size_t row_bytes() const { return row_bytes_; }

  // --- sequences
  bool has_sequence(SeqId seq) const { return seqs_.count(seq) != 0; }
  int32_t seq_len(SeqId seq) const;  // cached tokens (0 for an unknown sequence)
  const std::vector<int32_t>& block_table(SeqId seq) const;  // empty for an unknown sequence
  std::vector<SeqId> sequences() const;
  // Drops the sequence and releases its blocks (no-op if unknown).
  void free_sequence(SeqId seq);
  // Keeps the first n_tokens of the sequence (releases blocks past them).
  void truncate(SeqId seq, int32_t n_tokens);

  // Makes room for n_new more tokens of `seq` (allocating blocks and copying a
  // shared last block before it is written). Throws edgerag::Error when the pool
  // cannot supply the blocks; then nothing has changed.
  void reserve(SeqId seq, int32_t n_new);
  // Blocks reserve() would take from the pool for these sequences' new tokens.
  int32_t blocks_needed(SeqId seq, int32_t n_new) const;
  // Reserves for every sequence in the batch at once (all or nothing).
  void reserve_batch(const Batch& batch);
  // Marks n_new reserved tokens as written (sequence length grows).
  void commit(SeqId seq, int32_t n_new);

  // --- sharing (prefix cache)
  // Starts an empty sequence from shared blocks holding n_tokens tokens
  // (n_tokens <= blocks * block_size); takes a reference to every block.
  void attach(SeqId seq, std::span<const int32_t> blocks, int32_t n_tokens);
  void retain(int32_t block);   // extra reference (e.g. held by a prefix cache)
  void release(int32_t block);  // drop a reference; the block is free at zero
  int32_t ref_count(int32_t block) const;

  // --- element access (rows of head_dim elements of config().type)
  uint8_t* k_row(int32_t block, int32_t layer, int32_t head, int32_t slot);
  uint8_t* v_row(int32_t block, int32_t layer, int32_t head, int32_t slot);
  const uint8_t* k_row(int32_t block, int32_t layer, int32_t head, int32_t slot) const;
  const uint8_t* v_row(int32_t block, int32_t layer, int32_t head, int32_t slot) const;
  // Stores float rows converting to config().type.
  void write_k(int32_t block, int32_t layer, int32_t head, int32_t slot, const float* src);
  void write_v(int32_t block, int32_t layer, int32_t head, int32_t slot, const float* src);
  // Block and slot holding position `pos` of `seq` (pos < reserved length).
  int32_t block_of(SeqId seq, int32_t pos) const;

 private:
  struct Seq {
    std::vector<int32_t> blocks;
    int32_t len = 0;
  };
  int32_t alloc_block();
  uint8_t* row(int32_t block, int32_t layer, int kv, int32_t head, int32_t slot) const;

  KvCacheConfig cfg_;
  size_t row_bytes_ = 0;
  size_t block_bytes_ = 0;
  int32_t n_blocks_ = 0;
  std::unique_ptr<uint8_t[]> pool_;  // default-initialized: pages are touched on first use
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;
  std::unordered_map<SeqId, Seq> seqs_;
};

}  // namespace edgerag
