#include "runtime/scheduler_decoder.h"

#include <algorithm>

#include "util/error.h"

namespace edgerag {

DecoderStepModel::DecoderStepModel(const Model& model, ThreadPool* pool, int64_t kv_tokens, int32_t n_ctx,
                                   KvType kv_type)
    : model_(model),
      pool_(pool),
      cache_(model.make_cache(kv_tokens, kv_type)),
      n_ctx_(n_ctx > 0 ? n_ctx : model.hparams().n_ctx_train),
      model_id_(chunk_model_id(model)) {}

int32_t DecoderStepModel::n_vocab() const { return model_.hparams().n_vocab; }

int32_t DecoderStepModel::new_seq(std::span<const int32_t> prefix) {
  const int32_t seq = next_seq_++;
  if (!prefix.empty()) cache_->attach(seq, prefix, static_cast<int32_t>(prefix.size()) * cache_->block_size());
  return seq;
}

void DecoderStepModel::forward(std::span<const Entry> entries, std::vector<float>& logits) {
  Batch batch;
  for (const Entry& e : entries) {
    const size_t n = e.tokens.size();
    EDGERAG_CHECK(e.n_logits >= 1 && static_cast<size_t>(e.n_logits) <= n,
                  "step: entry of {} tokens asks for {} logits rows", n, e.n_logits);
    for (size_t j = 0; j < n; ++j)
      batch.add(e.tokens[j], e.pos + static_cast<int32_t>(j), e.seq, j + e.n_logits >= n);
  }
  // Requested rows come back in batch order, which is entry-major, position order.
  Logits out = model_.forward(batch, *cache_, pool_);
  logits = std::move(out.data);
}

bool DecoderStepModel::prefill_chunks(int32_t seq, std::span<const int32_t> prompt,
                                      std::span<const ChunkSpan> chunks, const KvReuseOptions& opt,
                                      int32_t spare_blocks, std::vector<float>& logits, ChunkPrefillStats& stats) {
  if (!store_) return false;
  const ChunkPrefiller pre{model_, *store_, model_id_, pool_};
  logits = pre.prefill(*cache_, seq, prompt, chunks, opt, spare_blocks, &stats).data;
  return true;
}

std::unique_ptr<DraftModel> DraftModel::load(const std::string& path, const Tokenizer& target_vocab,
                                             const std::string& target_name, ThreadPool* pool, int64_t kv_tokens,
                                             int32_t n_ctx) {
  auto d = std::make_unique<DraftModel>();
  d->model = Model::load(path);
  const auto vocab = Tokenizer::from_gguf(d->model->gguf());
  EDGERAG_CHECK(vocab->n_vocab() == target_vocab.n_vocab() && d->model->hparams().n_vocab == target_vocab.n_vocab(),
                "draft model {} has a vocabulary of {} tokens, {} has {}: speculative decoding needs the same vocabulary",
                path, vocab->n_vocab(), target_name, target_vocab.n_vocab());
  for (int32_t id = 0; id < vocab->n_vocab(); ++id)
    EDGERAG_CHECK(vocab->token_text(id) == target_vocab.token_text(id),
                  "draft model {} and {} differ at token {} ('{}' vs '{}'): speculative decoding needs the same "
                  "vocabulary", path, target_name, id, vocab->token_text(id), target_vocab.token_text(id));
  d->step = std::make_unique<DecoderStepModel>(*d->model, pool, kv_tokens, n_ctx);
  return d;
}

}  // namespace edgerag
