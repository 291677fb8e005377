// Paged KV cache: a pool of fixed-size blocks (block_size token slots, every
// layer and KV head) sized by a memory budget. Each sequence owns a block
// table mapping positions to blocks. Blocks are reference counted so a prefix
// cache can share full blocks between sequences; writing into a shared block
// copies it first (copy-on-write). Freeing a sequence releases its blocks.
//
// Pool layout: [layer][kv_head][block][K|V][...]: a (layer, head)'s keys and
// values of consecutive blocks are adjacent, so the attention over a sequence
// whose blocks were handed out in order reads one stream per (layer, head).
// Two kinds of cache type (KvType):
//  - rows: each K/V row of head_dim elements stored as a tensor type (F32, F16,
//    or a block-quantized type such as Q8_0 when head_dim is a multiple of its block);
//    F32 and F16 keys are stored transposed in key tiles (kKvKeyTile below), the
//    layout the attention's score kernels read, so decoding reads them in place;
//  - KIVI int8/int4 (model/kv_quant.h): a block's keys quantized per channel
//    over its slots (one fp16 scale/offset per channel per block), values per
//    token as they are written. Keys are quantized when their block fills;
//    until the sequence's length passes the block they also stay in a
//    full-precision staging tile attached to the block, which is what a query
//    reads in its own block (so a batched prefill sees exactly what token-by-token
//    decoding sees). The first keep_leading positions of a sequence (attention
//    sinks) keep K and V in that tile for good. Staging belongs to the block, so
//    sharing, copy-on-write, truncate and attach treat it like the block's other bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/batch.h"
#include "model/hparams.h"
#include "tensor/dtype.h"

namespace edgerag {

// What a KV cache stores: rows of a tensor type, or KIVI int8/int4.
struct KvType {
  DType row = DType::F32;  // row-typed caches
  int kivi_bits = 0;       // 8 or 4: KIVI (row is unused); 0: rows
  int keep_leading = 4;    // KIVI: leading positions of a sequence kept in F32

  KvType() = default;
  KvType(DType t) : row(t) {}  // NOLINT: every tensor type names a row-typed cache
  static KvType kivi(int bits, int keep_leading = 4);
  bool is_kivi() const { return kivi_bits != 0; }
  std::string name() const;  // "f32", "f16", "q8_0", ..., "int8", "int4"
  bool operator==(const KvType&) const = default;
};
// Parses name() (case-insensitive); throws edgerag::Error for anything else.
KvType kv_type_from_name(std::string_view name);
// What the engine's commands store unless told otherwise: F16, half of F32's
// memory and of the bytes every decode step reads (llama.cpp's default too).
// A model on a Vulkan device keeps F32 rows there (Model::make_cache).
inline KvType default_kv_type() { return DType::F16; }

// Keys per key tile: an F32 / F16 cache whose block size is a multiple of it
// stores a (block, layer, head)'s keys as [block_size / kKvKeyTile][head_dim][kKvKeyTile]
// elements (one key per lane); values stay rows [block_size][head_dim].
constexpr int32_t kKvKeyTile = 16;

struct KvCacheConfig {
  int32_t n_layer = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t block_size = 16;       // token slots per block
  KvType type;                   // what K and V are stored as
  size_t budget_bytes = 0;       // pool size; rounded down to whole blocks

  // Shape from the model; budget = enough blocks for n_tokens tokens in total.
  static KvCacheConfig for_model(const HParams& hp, int64_t n_tokens, KvType type = DType::F32,
                                 int32_t block_size = 16);
  size_t block_bytes() const;
  // Pool bytes per cached token (all layers, K and V); KIVI staging not included.
  double bytes_per_token() const { return static_cast<double>(block_bytes()) / block_size; }
};

// Frees a KV cache's pool (an anonymous mapping of `bytes`).
struct KvPoolUnmap {
  size_t bytes = 0;
  void operator()(uint8_t* p) const;
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
  // KIVI: bytes of the full-precision staging tiles held now (open blocks and
  // blocks with attention sinks, at most about two per sequence); 0 otherwise.
  size_t staging_bytes() const { return n_staged_ * staging_floats() * sizeof(float); }

  // --- sequences
  bool has_sequence(SeqId seq) const { return seqs_.count(seq) != 0; }
  int32_t seq_len(SeqId seq) const;  // cached tokens (0 for an unknown sequence)
  const std::vector<int32_t>& block_table(SeqId seq) const;  // empty for an unknown sequence
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
  // Marks n_new reserved tokens as written (sequence length grows). KIVI:
  // blocks this fills get their keys quantized.
  void commit(SeqId seq, int32_t n_new);

  // Makes positions [from, to) of the sequence (all cached) writable again for a
  // rewrite batch: shared blocks among them are copied first (all or nothing;
  // throws when the pool cannot supply the copies), KIVI blocks are reopened.
  void prepare_rewrite(SeqId seq, int32_t from, int32_t to);
  // After the rewrite: KIVI blocks the sequence has filled are quantized again.
  void finish_rewrite(SeqId seq, int32_t from, int32_t to);

  // --- sharing (prefix cache)
  // Starts an empty sequence from shared blocks holding n_tokens tokens
  // (n_tokens <= blocks * block_size); takes a reference to every block.
  void attach(SeqId seq, std::span<const int32_t> blocks, int32_t n_tokens);
  void retain(int32_t block);   // extra reference (e.g. held by a prefix cache)
  void release(int32_t block);  // drop a reference; the block is free at zero
  int32_t ref_count(int32_t block) const;

  // --- a copy of the pool on a compute device (the Vulkan backend keeps the K/V
  // of its layers there; block ids and tables stay here, so copy-on-write calls
  // copy_block on the device too).
  struct DevicePool {
    virtual ~DevicePool() = default;
    virtual void copy_block(int32_t from, int32_t to) = 0;
  };
  void set_device_pool(std::unique_ptr<DevicePool> p) { device_ = std::move(p); }
  DevicePool* device_pool() const { return device_.get(); }

  // --- element access
  // Stores float rows of head_dim values at a slot of a reserved block.
  void write_k(int32_t block, int32_t layer, int32_t head, int32_t slot, const float* src);
  void write_v(int32_t block, int32_t layer, int32_t head, int32_t slot, const float* src);
  // Rows [0, n) of one head's keys / values in a block as floats: in place when
  // stored as F32 rows (an F32 cache's values), else decoded into buf
  // (block_size * head_dim floats; tiled keys are turned back into rows).
  // query_block: the block holds the querying token (KIVI: its keys are read in
  // full precision while the block is being written).
  const float* k_tile(int32_t block, int32_t layer, int32_t head, int32_t n, float* buf,
                      bool query_block = false) const;
  const float* v_tile(int32_t block, int32_t layer, int32_t head, int32_t n, float* buf) const;
  // The stored elements themselves, for kernels that read the pool in place:
  // with tiled_keys(), a block's keys of (layer, head) as key tiles and its
  // values as rows, both of element type config().type.row (F32 or F16).
  bool tiled_keys() const { return tiled_keys_; }
  const void* k_tiles(int32_t block, int32_t layer, int32_t head) const { return part(block, layer, 0, head); }
  const void* v_rows(int32_t block, int32_t layer, int32_t head) const { return part(block, layer, 1, head); }
  // Starts loading the pool bytes of a block's keys and values of (layer, head)
  // into the cache (a hint: it changes no result).
  void prefetch(int32_t block, int32_t layer, int32_t head) const;
  // Block and slot holding position `pos` of `seq` (pos < reserved length).
  int32_t block_of(SeqId seq, int32_t pos) const;

 private:
  struct Seq {
    std::vector<int32_t> blocks;
    int32_t len = 0;
  };
  // KIVI per-block state.
  struct Kivi {
    // F32 keys [layer][head][block_size][head_dim], then sink values
    // [layer][head][staged_value_rows()][head_dim]; or none.
    std::unique_ptr<float[]> staged;
    int32_t n_sink = 0;           // leading slots that stay in `staged`
    bool open = false;            // reserved for writing (staged keys are current)
    bool keys_quantized = false;  // the pool holds the block's keys
  };
  int32_t alloc_block();
  void copy_block(int32_t from, int32_t to);
  // Bytes of (layer, K|V, head) in a block: rows, or KIVI key channels / value tokens.
  uint8_t* part(int32_t block, int32_t layer, int kv, int32_t head) const;
  int32_t staged_value_rows() const;  // min(keep_leading, block_size)
  size_t staging_floats() const;
  float* staged(int32_t block, int32_t layer, int kv, int32_t head, int32_t slot) const;
  void stage(int32_t block);          // attaches a staging tile
  void unstage(int32_t block);        // recycles it
  // KIVI: makes a block writable (staged; quantized keys decoded back into staging).
  void open_block(int32_t block);
  void quantize_keys(int32_t block, int32_t layer, int32_t head);
  // KIVI: the sequence's length passed the block: keys quantized, staging dropped unless it holds sinks.
  void close_block(int32_t block);
  void write(int kv, int32_t block, int32_t layer, int32_t head, int32_t slot, const float* src);
  const float* tile(int kv, int32_t block, int32_t layer, int32_t head, int32_t n, float* buf, bool query_block) const;

  KvCacheConfig cfg_;
  size_t row_bytes_ = 0;          // row-typed caches
  bool tiled_keys_ = false;
  size_t k_part_bytes_ = 0, v_part_bytes_ = 0;
  size_t block_bytes_ = 0;
  int32_t n_blocks_ = 0;
  std::unique_ptr<uint8_t[], KvPoolUnmap> pool_;  // anonymous mapping: pages are touched on first use
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;
  std::unordered_map<SeqId, Seq> seqs_;
  std::vector<Kivi> kivi_;                   // per block, KIVI caches only
  std::vector<std::unique_ptr<float[]>> spare_;  // recycled staging tiles
  size_t n_staged_ = 0;
  std::unique_ptr<DevicePool> device_;
};

}  // namespace edgerag
