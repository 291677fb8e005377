// Text generation over one sequence: prompt -> prefill (one batch) -> sample /
// decode token by token until max tokens, an end-of-generation token, a stop
// string (removed from the output) or the callback cancels.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace edgerag {

struct GenerationParams {
  int32_t max_tokens = 128;
  SamplerParams sampling;
  std::vector<std::string> stop;  // text-level stop strings
  bool stop_at_eog = true;
};

struct GenerationTimings {
  double prompt_ms = 0;     // prefill of the whole prompt
  double ttft_ms = 0;       // start -> first generated token sampled
  double decode_ms = 0;     // the token-by-token decode steps
  double prefill_tok_s = 0;
  double decode_tok_s = 0;
  int32_t n_prompt = 0;
  int32_t n_decode = 0;     // forward passes after the prompt
};

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> tokens;  // generated ids (incl. an EOG token that stopped it)
  std::string text;             // generated text, stop string removed
  std::string stop_reason;      // "length" | "eog" | "stop" | "cancelled"
  GenerationTimings timings;
  int32_t n_drafted = 0, n_accepted = 0;  // speculative decoding (generate --speculative)
  std::optional<double> token_p;           // geometric mean probability of `tokens` (runtime/sampler.h)
};

// Called after each generated token with the text it released (may be empty
// while a possible stop string or an incomplete UTF-8 character is held back),
// and once with token -1 for text held back until the end. Return false to cancel.
using TokenCallback = std::function<bool(int32_t token, std::string_view text)>;

class Generator {
 public:
  // n_ctx: tokens the sequence may hold (prompt + generated); 0 = the model's
  // training context capped at kDefaultMaxCtx. The generator owns a KV cache of that size
  // storing K/V as kv_type.
  static constexpr int32_t kDefaultMaxCtx = 4096;
  Generator(const Model& model, const Tokenizer& tokenizer, ThreadPool* pool, int32_t n_ctx = 0,
            KvType kv_type = default_kv_type());

  int32_t n_ctx() const { return n_ctx_; }
  const KvCacheConfig& kv_config() const { return cache_->config(); }  // what the cache stores

  // Encodes with add_special=true, parse_special=false: the prompt is plain
  // text ("<|im_end|>" in it stays text); chat prompts with control tokens go
  // through Tokenizer::encode_parts and generate_ids.
  GenerationResult generate(std::string_view prompt, const GenerationParams& params,
                            const TokenCallback& on_token = {});
  // Throws edgerag::Error when prompt + max_tokens exceed n_ctx or the prompt is empty.
  GenerationResult generate_ids(const std::vector<int32_t>& prompt_ids, const GenerationParams& params,
                                const TokenCallback& on_token = {});

 private:
  const Model& model_;
  const Tokenizer& tok_;
  ThreadPool* pool_;
  int32_t n_ctx_;
  std::unique_ptr<KvCache> cache_;
};

}  // namespace edgerag
