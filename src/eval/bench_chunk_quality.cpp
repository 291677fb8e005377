#include "eval/bench_chunk_quality.h"

#include <cmath>

#include "model/model.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace edgerag {
namespace {

// Tokens sampled after `opening` (temperature 0.8, seeded).
std::vector<int32_t> sample_passage(const Model& m, KvCache& cache, const std::vector<int32_t>& opening, int n,
                                    uint64_t seed, ThreadPool* pool) {
  SamplerParams sp;
  sp.seed = seed;
  Sampler sampler(sp);
  cache.free_sequence(0);
  Batch b;
  for (size_t i = 0; i < opening.size(); ++i) b.add(opening[i], static_cast<int32_t>(i), 0, i + 1 == opening.size());
  Logits l = m.forward(b, cache, pool);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(sampler.sample(l.row(0), m.hparams().n_vocab));
    sampler.accept(out.back());
    Batch s;
    s.add(out.back(), cache.seq_len(0), 0, true);
    l = m.forward(s, cache, pool);
  }
  cache.free_sequence(0);
  return out;
}

struct Scored {
  std::vector<int32_t> argmax;  // first answer position, then each continuation position
  double nll = 0;
};

// Teacher-forced continuation after a prefilled sequence whose last logits are `first`.
Scored score(const Model& m, KvCache& cache, SeqId seq, const float* first, const std::vector<int32_t>& cont,
             ThreadPool* pool) {
  const int32_t V = m.hparams().n_vocab;
  Batch b;
  for (size_t i = 0; i + 1 < cont.size(); ++i) b.add(cont[i], cache.seq_len(seq) + static_cast<int32_t>(i), seq, true);
  const Logits l = m.forward(b, cache, pool);
  Scored s;
  for (size_t i = 0; i < cont.size(); ++i) {
    const float* row = i == 0 ? first : l.row(static_cast<int32_t>(i - 1));
    s.argmax.push_back(argmax(row, V));
    const double mx = row[s.argmax.back()];
    double z = 0;
    for (int32_t k = 0; k < V; ++k) z += std::exp(row[k] - mx);
    s.nll += -(row[cont[i]] - mx - std::log(z));
  }
  return s;
}

}  // namespace

std::vector<ChunkQualityRow> bench_chunk_quality(const ChunkQualityOptions& o) {
  EDGERAG_CHECK(o.samples > 0 && o.chunks > 0 && o.passage_tokens > o.opening_tokens + 1 && o.opening_tokens > 0,
                "bench chunk-quality: invalid sizes");
  auto model = Model::load(o.model);
  const auto tok = Tokenizer::from_gguf(model->gguf());
  ThreadPool pool(o.n_threads > 0 ? o.n_threads : default_thread_count());
  const int n_passages = o.chunks * 4 + 1;
  const int64_t ctx = 1 + 16 + static_cast<int64_t>(o.chunks + 1) * (o.passage_tokens + 4);
  auto cache = model->make_cache(4 * ctx + 64);

  // The passage pool: story openings continued by the model.
  const char* openings[] = {"Once upon a time", "One day", "Tom and Lily", "There was a little", "The sun was",
                            "A big dog", "Sara liked to", "In the park"};
  std::vector<std::vector<int32_t>> passages;
  for (int p = 0; p < n_passages; ++p) {
    auto ids = tok->encode(openings[p % 8], true, false);
    auto text = sample_passage(*model, *cache, ids, o.passage_tokens, 1000 + p, &pool);
    ids.erase(ids.begin());  // BOS
    ids.insert(ids.end(), text.begin(), text.end());
    passages.push_back(std::move(ids));
  }
  const auto prefix = tok->encode("Stories:", true, false), gap = tok->encode("\n", false, false);

  struct Sample {
    std::vector<int32_t> ids, cont;
    std::vector<ChunkSpan> spans;
  };
  std::vector<Sample> samples;
  for (int s = 0; s < o.samples; ++s) {
    Sample x;
    x.ids = prefix;
    for (int c = 0; c < o.chunks; ++c) {
      x.ids.insert(x.ids.end(), gap.begin(), gap.end());
      const auto& p = passages[(s * 7 + c * 3) % (n_passages - 1)];  // chunks recur across prompts, in other orders
      x.spans.push_back({static_cast<int32_t>(x.ids.size()), static_cast<int32_t>(x.ids.size() + p.size())});
      x.ids.insert(x.ids.end(), p.begin(), p.end());
    }
    x.ids.insert(x.ids.end(), gap.begin(), gap.end());
    const auto& held = passages[(s * 5 + 1) % n_passages];
    x.ids.insert(x.ids.end(), held.begin(), held.begin() + o.opening_tokens);
    x.cont.assign(held.begin() + o.opening_tokens, held.end());
    samples.push_back(std::move(x));
  }

  std::vector<Scored> full;
  for (const Sample& x : samples) {
    cache->free_sequence(1);
    Batch b;
    for (size_t i = 0; i < x.ids.size(); ++i) b.add(x.ids[i], static_cast<int32_t>(i), 1, i + 1 == x.ids.size());
    const Logits l = model->forward(b, *cache, &pool);
    full.push_back(score(*model, *cache, 1, l.row(0), x.cont, &pool));
  }
  double nll_full = 0, n_scored = 0;
  for (size_t i = 0; i < samples.size(); ++i) nll_full += full[i].nll, n_scored += samples[i].cont.size();

  std::vector<std::pair<KvReuse, double>> arms{{KvReuse::ChunksExact, 0.0}};
  for (double s : o.shares) arms.emplace_back(KvReuse::Chunks, s);
  std::vector<ChunkQualityRow> rows;
  for (const auto& [mode, share] : arms) {
    ChunkKvStore store({});
    const ChunkPrefiller pre{*model, store, chunk_model_id(*model), &pool};
    KvReuseOptions opt;
    opt.mode = mode;
    opt.recompute_share = share;
    opt.recompute_first = o.recompute_first;
    ChunkQualityRow r;
    r.mode = kv_reuse_name(mode);
    r.share = share;
    double nll = 0, agree = 0;
    ChunkPrefillStats st;
    for (size_t i = 0; i < samples.size(); ++i) {
      cache->free_sequence(1);
      const Logits l = pre.prefill(*cache, 1, samples[i].ids, samples[i].spans, opt, cache->n_free_blocks() / 2, &st);
      const Scored s = score(*model, *cache, 1, l.row(0), samples[i].cont, &pool);
      nll += s.nll;
      for (size_t k = 0; k < s.argmax.size(); ++k) agree += s.argmax[k] == full[i].argmax[k];
      r.first_identical += s.argmax[0] == full[i].argmax[0];
    }
    r.agreement = agree / n_scored;
    r.first_identical /= static_cast<double>(samples.size());
    r.ppl = std::exp(nll / n_scored);
    r.ppl_full = std::exp(nll_full / n_scored);
    r.ppl_ratio = r.ppl / r.ppl_full;
    const double placed = static_cast<double>(st.recomputed_tokens + st.reused_tokens);
    r.recomputed_share = placed > 0 ? st.recomputed_tokens / placed : 0;
    rows.push_back(r);
  }
  cache->free_sequence(1);
  return rows;
}

}  // namespace edgerag
