#include "runtime/generator.h"

#include <algorithm>

#include "runtime/token_policy.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timer.h"

namespace edgerag {

Generator::Generator(const Model& model, const Tokenizer& tokenizer, ThreadPool* pool, int32_t n_ctx,
                     KvType kv_type)
    : model_(model), tok_(tokenizer), pool_(pool) {
  const int32_t train = model.hparams().n_ctx_train;
  EDGERAG_CHECK(n_ctx >= 0, "context size must be >= 0 (got {})", n_ctx);
  n_ctx_ = n_ctx > 0 ? n_ctx : std::min(train, kDefaultMaxCtx);
  if (n_ctx_ > train) log(LogLevel::Warn, "context {} exceeds the model's training context {}", n_ctx_, train);
  cache_ = model.make_cache(n_ctx_, kv_type);
}

GenerationResult Generator::generate(std::string_view prompt, const GenerationParams& params,
                                     const TokenCallback& on_token) {
  return generate_ids(tok_.encode(prompt, true, false), params, on_token);
}

GenerationResult Generator::generate_ids(const std::vector<int32_t>& prompt_ids, const GenerationParams& params,
                                         const TokenCallback& on_token) {
  EDGERAG_CHECK(!prompt_ids.empty(), "generate: empty prompt");
  EDGERAG_CHECK(params.max_tokens >= 0, "generate: max tokens must be >= 0 (got {})", params.max_tokens);
  const int64_t need = static_cast<int64_t>(prompt_ids.size()) + params.max_tokens;
  EDGERAG_CHECK(need <= n_ctx_, "prompt ({} tokens) + max tokens ({}) = {} exceeds the context size {}",
                prompt_ids.size(), params.max_tokens, need, n_ctx_);

  GenerationResult res;
  res.prompt_ids = prompt_ids;
  res.stop_reason = "length";
  cache_->free_sequence(0);
  Sampler sampler(params.sampling);
  for (int32_t id : prompt_ids) sampler.accept(id);
  TokenPolicy policy(tok_, params.stop, params.stop_at_eog);
  const int32_t n_vocab = model_.hparams().n_vocab;

  Timer total;
  Batch batch;
  for (size_t i = 0; i < prompt_ids.size(); ++i)
    batch.add(prompt_ids[i], static_cast<int32_t>(i), 0, i + 1 == prompt_ids.size());
  Logits logits = model_.forward(batch, *cache_, pool_);
  auto& t = res.timings;
  t.prompt_ms = total.ms();
  t.n_prompt = static_cast<int32_t>(prompt_ids.size());

  Timer decode;
  TokenProbability token_p;
  int32_t pos = t.n_prompt;
  for (int32_t i = 0; i < params.max_tokens; ++i) {
    const int32_t id = sampler.sample(logits.row(0), n_vocab);
    token_p.add(logits.row(0), n_vocab, id);
    if (i == 0) {
      t.ttft_ms = total.ms();
      decode.reset();
    }
    sampler.accept(id);
    res.tokens.push_back(id);
    if (policy.is_end(id)) {
      res.stop_reason = "eog";
      break;
    }
    const std::string text = policy.push(id);
    if (on_token && !on_token(id, text)) {
      res.stop_reason = "cancelled";
      break;
    }
    if (policy.stopped()) {
      res.stop_reason = "stop";
      break;
    }
    if (i + 1 == params.max_tokens) break;  // no need to evaluate the last token
    batch.clear();
    batch.add(id, pos++, 0, true);
    logits = model_.forward(batch, *cache_, pool_);
    ++t.n_decode;
  }
  t.decode_ms = res.tokens.empty() ? 0 : decode.ms();
  if (const std::string tail = policy.flush(); !tail.empty() && res.stop_reason != "cancelled" && on_token)
    on_token(-1, tail);
  res.text = policy.text();
  res.token_p = token_p.mean();
  t.prefill_tok_s = t.prompt_ms > 0 ? t.n_prompt * 1000.0 / t.prompt_ms : 0;
  t.decode_tok_s = t.decode_ms > 0 ? t.n_decode * 1000.0 / t.decode_ms : 0;
  cache_->free_sequence(0);
  return res;
}

}  // namespace edgerag
