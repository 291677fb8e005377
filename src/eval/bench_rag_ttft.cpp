#include "eval/bench_rag_ttft.h"

#include <algorithm>
#include <cmath>

#include "eval/retrieval_beir.h"
#include "model/model.h"
#include "rag/answer.h"
#include "rag/prompt.h"
#include "runtime/chat_template.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace edgerag {
namespace {

// Greedy tokens after a prefilled sequence whose last logits are `first`.
std::vector<int32_t> greedy(const Model& m, KvCache& cache, SeqId seq, const float* first, int n, ThreadPool* pool) {
  const int V = m.hparams().n_vocab;
  std::vector<int32_t> out{argmax(first, V)};
  while (static_cast<int>(out.size()) < n) {
    Batch b;
    b.add(out.back(), cache.seq_len(seq), seq, true);
    out.push_back(argmax(m.forward(b, cache, pool).row(0), V));
  }
  return out;
}


}  // namespace

double kl_divergence(const float* p_logits, const float* q_logits, int n) {
  auto log_softmax = [n](const float* x) {
    const double mx = *std::max_element(x, x + n);
    double s = 0;
    for (int i = 0; i < n; ++i) s += std::exp(x[i] - mx);
    std::vector<double> out(n);
    for (int i = 0; i < n; ++i) out[i] = x[i] - mx - std::log(s);
    return out;
  };
  const auto lp = log_softmax(p_logits), lq = log_softmax(q_logits);
  double kl = 0;
  for (int i = 0; i < n; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
  return std::max(kl, 0.0);
}

RagTtftResult bench_rag_ttft(const RagTtftOptions& o) {
  check_kv_reuse(o.reuse);
  const auto queries = eval::read_beir_queries(o.queries_file, static_cast<size_t>(std::max(o.limit, 0)));
  auto model = Model::load(o.model);
  const auto tok = Tokenizer::from_gguf(model->gguf());
  ThreadPool pool(o.n_threads > 0 ? o.n_threads : default_thread_count());
  auto engine = rag::AnswerEngine::open({.index_dir = o.index_dir});
  const int n_ctx = o.max_prompt_tokens + o.answer_tokens + 64;
  rag::PromptTarget target = rag::PromptTarget::of(*tok, detect_chat_format(model->gguf()), n_ctx);
  target.tok = tok.get();
  rag::AnswerConfig cfg;
  cfg.max_chunks = o.max_chunks;
  cfg.max_prompt_tokens = o.max_prompt_tokens;
  cfg.max_answer_tokens = o.answer_tokens;
  cfg.adaptive.hyde = rag::StageMode::Off;
  cfg.adaptive.context = rag::StageMode::Off;
  cfg.adaptive.cache = false;
  cfg.adaptive.min_confidence = 0;
  cfg.kv_reuse = o.reuse;

  struct Prepared {
    std::vector<int32_t> ids;
    std::vector<ChunkSpan> spans;
    KvReuseOptions reuse;  // with the prompt's context_end
  };
  std::vector<Prepared> prompts;
  for (const auto& [id, text] : queries) {
    rag::PreparedAnswer p = engine->prepare(text, cfg, &target);
    EDGERAG_CHECK(p.generative(), "bench rag-ttft: no prompt for query {}", id);
    prompts.push_back({p.prompt_ids, rag::locate_chunks(p.prompt_ids, p.answer.context, *tok), p.kv_reuse});
  }

  // One cache: the shared template prefix (sequence 0), the query, the reference, scratch.
  const int64_t kv_tokens = 3 * static_cast<int64_t>(n_ctx) + o.max_chunks * 512;
  auto cache = model->make_cache(kv_tokens, o.kv_type);
  const int32_t bs = cache->block_size();
  ChunkKvStore store(o.store);
  const ChunkPrefiller pre{*model, store, chunk_model_id(*model), &pool};
  const int32_t V = model->hparams().n_vocab;

  // The template prefix: the tokens every prompt starts with, up to the first chunk.
  size_t prefix = prompts.front().ids.size();
  for (const auto& p : prompts) {
    size_t k = 0;
    while (k < prefix && k < p.ids.size() && p.ids[k] == prompts.front().ids[k]) ++k;
    prefix = std::min(k, p.spans.empty() ? k : static_cast<size_t>(p.spans.front().begin));
  }
  const int32_t prefix_blocks = static_cast<int32_t>(prefix) / bs;
  if (prefix_blocks > 0) {
    Batch b;
    for (int32_t i = 0; i < prefix_blocks * bs; ++i) b.add(prompts.front().ids[i], i, 0, false);
    model->forward(b, *cache, &pool);
  }
  const std::vector<int32_t> prefix_table(cache->block_table(0).begin(), cache->block_table(0).end());
  auto start_seq = [&](SeqId seq) {
    cache->free_sequence(seq);
    if (prefix_blocks > 0) cache->attach(seq, prefix_table, prefix_blocks * bs);
  };
  auto spare = [&](const Prepared& p) {
    return cache->n_free_blocks() - static_cast<int32_t>((p.ids.size() + o.answer_tokens) / bs + 2);
  };
  // One timed prefill of prompt i into sequence 1; returns the first logits row.
  auto timed = [&](const Prepared& p, const KvReuseOptions& reuse, double* ms, ChunkPrefillStats* st) {
    start_seq(1);
    Timer t;
    Logits l = pre.prefill(*cache, 1, p.ids, p.spans, reuse, spare(p), st);
    argmax(l.row(0), V);
    *ms = t.ms();
    return l;
  };

  RagTtftResult res;
  res.queries.resize(queries.size());
  const bool chunked = o.reuse.mode != KvReuse::Prefix;
  if (chunked && o.warm)
    for (size_t i = 0; i < prompts.size(); ++i)
      timed(prompts[i], prompts[i].reuse, &res.queries[i].ttft_cold_ms, nullptr);
  KvReuseOptions full;  // the reference: prefix mode
  for (size_t i = 0; i < prompts.size(); ++i) {
    RagTtftRow& r = res.queries[i];
    const Prepared& p = prompts[i];
    r.id = queries[i].first;
    r.prompt_tokens = static_cast<int>(p.ids.size());
    r.chunks = static_cast<int>(p.spans.size());
    // Alternate the reference and the measured run so machine load hits both alike.
    Logits ref = timed(p, full, &r.full_ttft_ms, nullptr);
    const auto ref_answer = greedy(*model, *cache, 1, ref.row(0), o.answer_tokens, &pool);
    Logits got = timed(p, p.reuse, &r.ttft_ms, &r.reuse);
    const auto answer = greedy(*model, *cache, 1, got.row(0), o.answer_tokens, &pool);
    for (int k = 0; k < V; ++k)
      r.max_logit_diff = std::max(r.max_logit_diff, static_cast<double>(std::fabs(got.row(0)[k] - ref.row(0)[k])));
    r.kl = kl_divergence(ref.row(0), got.row(0), V);
    r.identical = answer == ref_answer;
    res.reuse += r.reuse;
    res.ttft_ms_mean += r.ttft_ms, res.ttft_cold_ms_mean += r.ttft_cold_ms, res.full_ttft_ms_mean += r.full_ttft_ms;
    res.identical_rate += r.identical, res.kl_mean += r.kl;
    res.max_logit_diff = std::max(res.max_logit_diff, r.max_logit_diff);
    res.prompt_tokens += r.prompt_tokens;
  }
  cache->free_sequence(1);
  const double n = static_cast<double>(res.queries.size());
  res.ttft_ms_mean /= n, res.ttft_cold_ms_mean /= n, res.full_ttft_ms_mean /= n, res.identical_rate /= n;
  res.kl_mean /= n;
  return res;
}

}  // namespace edgerag
