#include "runtime/scheduler_decoder.h"

#include <algorithm>
#include <cstring>

namespace edgerag {

DecoderStepModel::DecoderStepModel(const Model& model, ThreadPool* pool, int64_t kv_tokens, int32_t n_ctx,
                                   KvType kv_type)
    : model_(model),
      pool_(pool),
      cache_(model.make_cache(kv_tokens, kv_type)),
      n_ctx_(n_ctx > 0 ? n_ctx : model.hparams().n_ctx_train) {}

int32_t DecoderStepModel::n_vocab() const { return model_.hparams().n_vocab; }

int32_t DecoderStepModel::new_seq(std::span<const int32_t> prefix) {
  const int32_t seq = next_seq_++;
  if (!prefix.empty()) cache_->attach(seq, prefix, static_cast<int32_t>(prefix.size()) * cache_->block_size());
  return seq;
}

void DecoderStepModel::forward(std::span<const Entry> entries, std::vector<float>& logits) {
  Batch batch;
  std::vector<size_t> last;  // batch index of each entry's last token
  for (const Entry& e : entries) {
    for (size_t j = 0; j < e.tokens.size(); ++j)
      batch.add(e.tokens[j], e.pos + static_cast<int32_t>(j), e.seq, j + 1 == e.tokens.size());
    last.push_back(batch.size() - 1);
  }
  Logits out = model_.forward(batch, *cache_, pool_);
  const size_t nv = n_vocab();
  logits.resize(entries.size() * nv);
  for (size_t i = 0; i < entries.size(); ++i) std::memcpy(logits.data() + i * nv, out.for_token(last[i]), nv * sizeof(float));
}

}  // namespace edgerag
