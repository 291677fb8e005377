// Perplexity of a decoder on a text, two protocols:
//  - "chunked": llama.cpp's llama-perplexity (non-overlapping chunks of ctx
//    tokens, first token replaced by BOS, only the second half of each chunk
//    scored; ../shared/golden/README.md section 5);
//  - "sliding": windows of ctx tokens advanced by `stride` < ctx (default ctx/2),
//    each scoring only the tokens not scored by an earlier window, so every
//    token but the first is predicted once with up to ctx - stride of context.
#pragma once
#include <string>
#include <vector>

#include "model/model.h"
#include "util/thread_pool.h"

namespace edgerag {

struct PplOptions {
  int64_t ctx = 128;
  int64_t stride = 0;               // sliding only; 0 = ctx / 2
  std::string protocol = "sliding"; // sliding | chunked
  int64_t max_tokens = 0;           // 0 = the whole text
  KvType kv_type = default_kv_type();  // KV cache type (f32, f16, q8_0, int8, int4, ...)
};

struct PplResult {
  std::string protocol;
  int64_t ctx = 0, stride = 0;
  int64_t n_tokens = 0;       // tokens of the (possibly truncated) text, BOS included
  int64_t tokens_scored = 0;
  int64_t n_windows = 0;
  double nll = 0;             // mean negative log-likelihood (nats)
  double ppl = 0;
  double ppl_stderr = 0;      // llama.cpp's +/- estimate
  double seconds = 0;
  double tokens_per_second = 0;  // evaluated (not scored) tokens per second
};

// Tokenizes with the model's tokenizer (BOS added as the vocabulary asks, special
// texts not parsed) and scores.
PplResult perplexity(const Model& model, const std::string& text, const PplOptions& opt, ThreadPool* pool);
// Same on token ids (BOS already in place where wanted); bos < 0 = none.
PplResult perplexity_tokens(const Model& model, const std::vector<int32_t>& tokens, int32_t bos, const PplOptions& opt,
                            ThreadPool* pool);

}  // namespace edgerag
