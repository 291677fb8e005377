// The KV of one chunk of tokens taken out of a sequence, to be placed into
// other sequences (chunk-level KV reuse). Keys are kept as computed, i.e.
// rotated for the chunk's canonical position `pos`; placing the chunk at
// position p re-rotates them by p - pos (Model::rerotate_keys), values are
// reused as they are. For a chunk whose attention context is the same this is
// exact up to float rounding; what it cannot restore is attention to different
// preceding tokens (see runtime/chunk_prefill.h for the recompute).
//
// Rows are stored in the cache type's precision: F32/F16/block types as rows of
// that type, KIVI int8/int4 as per-token codes for keys and values (KIVI's
// per-channel key groups depend on where a block starts, which placement
// changes). So a quantized chunk is 2-8x smaller than F32, and placing it
// decodes, rotates and re-encodes its keys (one more rounding of the type).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/kv_cache.h"

namespace edgerag {

class Model;

struct ChunkKv {
  KvType type;
  int32_t n_layer = 0, n_head_kv = 0, head_dim = 0;
  int32_t n_tokens = 0;
  int32_t pos = 0;            // position of the first token when computed
  std::vector<uint8_t> data;  // [layer][K|V][head][token] rows of row_bytes()

  size_t row_bytes() const;
  size_t bytes() const { return sizeof(ChunkKv) + data.size(); }
  // Row of (layer, K=0|V=1, head, token) decoded to head_dim floats.
  void read_row(int32_t layer, int kv, int32_t head, int32_t token, float* out) const;
  size_t row_offset(int32_t layer, int kv, int32_t head, int32_t token) const;
};

// Bytes of one head_dim row of a chunk stored as `type`.
size_t chunk_row_bytes(const KvType& type, int32_t head_dim);

// Copies positions [from, from + n) of `seq` out of the cache (all cached).
ChunkKv capture_chunk(const KvCache& cache, SeqId seq, int32_t from, int32_t n);

// Appends the chunk to `seq` at its current length, keys re-rotated from
// chunk.pos to there. Throws (nothing changed) if the chunk's shape does not
// match the cache or the pool has no room.
void place_chunk(const Model& model, KvCache& cache, SeqId seq, const ChunkKv& chunk);

// Appends n positions of zero K/V to `seq`: slots a rewrite batch fills later
// (zeros, so nothing read before then is ever NaN or garbage).
void append_placeholders(KvCache& cache, SeqId seq, int32_t n);

}  // namespace edgerag
