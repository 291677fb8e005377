// The scheduler's StepModel over the decoder (model/model.h) and its paged KV
// cache: entries become one Batch, shared prefix blocks are attached to new
// sequences, and block references go straight to the KvCache.
#pragma once
#include <memory>
#include <string>

#include "model/model.h"
#include "runtime/scheduler.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace edgerag {

class DecoderStepModel : public StepModel {
 public:
  // kv_tokens: capacity of the shared KV pool (all sequences together);
  // n_ctx: longest sequence (0 = the model's training context); kv_type: how K/V are stored.
  DecoderStepModel(const Model& model, ThreadPool* pool, int64_t kv_tokens, int32_t n_ctx = 0,
                   KvType kv_type = default_kv_type());

  int32_t n_vocab() const override;
  int32_t n_ctx() const override { return n_ctx_; }
  int32_t block_size() const override { return cache_->block_size(); }
  int32_t n_blocks_total() const override { return cache_->n_blocks(); }
  int32_t n_blocks_free() const override { return cache_->n_free_blocks(); }
  int32_t new_seq(std::span<const int32_t> prefix) override;
  void free_seq(int32_t seq) override { cache_->free_sequence(seq); }
  std::vector<int32_t> seq_blocks(int32_t seq) const override { return cache_->block_table(seq); }
  void retain_block(int32_t block) override { cache_->retain(block); }
  void release_block(int32_t block) override { cache_->release(block); }
  void truncate(int32_t seq, int32_t n_tokens) override { cache_->truncate(seq, n_tokens); }
  void forward(std::span<const Entry> entries, std::vector<float>& logits) override;
  // Chunk KV reuse through `store` (shared with other models' steppers is fine:
  // keys name the model); null turns it off.
  void set_chunk_store(ChunkKvStore* store) { store_ = store; }
  bool prefill_chunks(int32_t seq, std::span<const int32_t> prompt, std::span<const ChunkSpan> chunks,
                      const KvReuseOptions& opt, int32_t spare_blocks, std::vector<float>& logits,
                      ChunkPrefillStats& stats) override;

 private:
  const Model& model_;
  ThreadPool* pool_;
  std::unique_ptr<KvCache> cache_;
  int32_t n_ctx_;
  int32_t next_seq_ = 0;
  ChunkKvStore* store_ = nullptr;
  std::string model_id_;
};

// A draft model for speculative decoding (--speculative draft:MODEL) with its
// own KV pool. load() checks that its vocabulary is the target's (same size and
// token texts): drafts are token ids, so any difference is an Error naming both.
struct DraftModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<DecoderStepModel> step;
  static std::unique_ptr<DraftModel> load(const std::string& path, const Tokenizer& target_vocab,
                                          const std::string& target_name, ThreadPool* pool, int64_t kv_tokens,
                                          int32_t n_ctx);
};

}  // namespace edgerag
