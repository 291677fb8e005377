#include "eval/ppl.h"

#include <algorithm>
#include <cmath>

#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {

namespace {

// One window: tokens [begin, end) at positions 0.., first token optionally
// replaced; adds the NLL of predicting tokens[j + 1] for j in [score_from, end - 1).
struct Window {
  int64_t begin, end, score_from;
};

}  // namespace

PplResult perplexity(const Model& model, const std::string& text, const PplOptions& opt, ThreadPool* pool) {
  auto tok = Tokenizer::from_gguf(model.gguf());
  const std::vector<int32_t> ids = tok->encode(text, true, false);
  return perplexity_tokens(model, ids, tok->add_bos() ? tok->bos_id() : -1, opt, pool);
}

PplResult perplexity_tokens(const Model& model, const std::vector<int32_t>& all, int32_t bos, const PplOptions& opt,
                            ThreadPool* pool) {
  Timer timer;
  EDGERAG_CHECK(opt.protocol == "sliding" || opt.protocol == "chunked",
                "unknown perplexity protocol '{}' (sliding, chunked)", opt.protocol);
  EDGERAG_CHECK(opt.ctx >= 4, "perplexity: --ctx must be at least 4 (got {})", opt.ctx);
  const int64_t n = opt.max_tokens > 0 ? std::min<int64_t>(opt.max_tokens, all.size()) : all.size();
  PplResult r;
  r.protocol = opt.protocol;
  r.ctx = opt.ctx;
  r.n_tokens = n;
  std::vector<Window> windows;
  if (opt.protocol == "chunked") {
    EDGERAG_CHECK(n >= opt.ctx, "perplexity: {} tokens are fewer than one chunk of {}", n, opt.ctx);
    for (int64_t k = 0; k < n / opt.ctx; ++k)
      windows.push_back({k * opt.ctx, (k + 1) * opt.ctx, k * opt.ctx + opt.ctx / 2});
  } else {
    r.stride = opt.stride > 0 ? opt.stride : opt.ctx / 2;
    // Windows must overlap by one token: a window cannot predict its own first token.
    EDGERAG_CHECK(r.stride < opt.ctx, "perplexity: stride {} must be below the context {}", r.stride, opt.ctx);
    EDGERAG_CHECK(n >= 2, "perplexity: the text has fewer than 2 tokens");
    int64_t scored_to = 0;  // tokens [1, scored_to] have been predicted
    for (int64_t begin = 0;; begin += r.stride) {
      const int64_t end = std::min(begin + opt.ctx, n);
      windows.push_back({begin, end, std::max(begin, scored_to)});
      scored_to = end - 1;
      if (end == n) break;
    }
  }
  EDGERAG_CHECK(opt.ctx <= model.hparams().n_ctx_train || model.hparams().n_ctx_train <= 0,
                "perplexity: --ctx {} exceeds the model's training context {}", opt.ctx, model.hparams().n_ctx_train);
  r.n_windows = static_cast<int64_t>(windows.size());

  // Several windows per forward pass (one sequence each) keep the matmuls wide.
  const int64_t per_pass = std::max<int64_t>(1, 512 / opt.ctx);
  double sum = 0, sum2 = 0;
  int64_t evaluated = 0;
  auto cache = model.make_cache(per_pass * opt.ctx, opt.kv_type);
  for (size_t w0 = 0; w0 < windows.size(); w0 += per_pass) {
    const size_t w1 = std::min(windows.size(), w0 + per_pass);
    Batch batch;
    for (size_t w = w0; w < w1; ++w) {
      const Window& win = windows[w];
      for (int64_t i = win.begin; i < win.end; ++i) {
        int32_t id = all[i];
        if (opt.protocol == "chunked" && i == win.begin && bos >= 0) id = bos;
        batch.add(id, static_cast<int32_t>(i - win.begin), static_cast<SeqId>(w - w0),
                  i >= win.score_from && i + 1 < win.end);
      }
    }
    const Logits logits = model.forward(batch, *cache, pool);
    evaluated += static_cast<int64_t>(batch.size());
    size_t bi = 0;
    for (size_t w = w0; w < w1; ++w) {
      const Window& win = windows[w];
      for (int64_t i = win.begin; i < win.end; ++i, ++bi) {
        if (!batch.tokens[bi].logits) continue;
        const double nll = nll_of(logits.for_token(bi), logits.n_vocab, all[i + 1]);
        sum += nll;
        sum2 += nll * nll;
        ++r.tokens_scored;
      }
      cache->free_sequence(static_cast<SeqId>(w - w0));
    }
  }
  EDGERAG_CHECK(r.tokens_scored > 0, "perplexity: no token was scored (text too short for --ctx {})", opt.ctx);
  r.nll = sum / r.tokens_scored;
  r.ppl = std::exp(r.nll);
  if (r.tokens_scored > 1) {
    const double var = sum2 / r.tokens_scored - r.nll * r.nll;
    r.ppl_stderr = r.ppl * std::sqrt(std::max(0.0, var) / (r.tokens_scored - 1));
  }
  r.seconds = timer.seconds();
  r.tokens_per_second = r.seconds > 0 ? evaluated / r.seconds : 0;
  return r;
}

}  // namespace edgerag
