#include "eval/attention_metrics.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace edgerag {

double gini_coefficient(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  double sum = 0, diffs = 0;
  for (double a : x) {
    sum += a;
    for (double b : x) diffs += std::fabs(a - b);
  }
  return x.size() < 2 || sum <= 0 ? 0.0 : diffs / (2 * n * sum);  // 2 n^2 mean = 2 n sum
}

PassageAttention passage_attention(const std::vector<std::vector<std::vector<float>>>& weights,
                                   const std::vector<TokenSpan>& passages, size_t gold) {
  EDGERAG_CHECK(gold < passages.size(), "attention: gold passage {} of {}", gold, passages.size());
  PassageAttention r;
  r.share.assign(passages.size(), 0.0);
  int n = 0;
  for (const auto& layer : weights)
    for (const auto& head : layer) {
      for (size_t p = 0; p < passages.size(); ++p) {
        const int32_t b = std::max(0, passages[p].begin);
        const int32_t e = std::min(static_cast<int32_t>(head.size()), passages[p].end);
        for (int32_t i = b; i < e; ++i) r.share[p] += head[i];
      }
      ++n;
    }
  for (auto& s : r.share) s /= std::max(n, 1);
  r.gold_share = r.share[gold];
  r.gold_rank = 1 + static_cast<int>(std::count_if(r.share.begin(), r.share.end(),
                                                   [&](double s) { return s > r.gold_share; }));
  r.gini = gini_coefficient(r.share);
  return r;
}

AttentionTrace trace_attention(const Model& model, const std::vector<int32_t>& prompt,
                               const std::vector<TokenSpan>& passages, size_t gold, int n_steps, ThreadPool* pool) {
  EDGERAG_CHECK(!prompt.empty() && n_steps >= 0, "attention: empty prompt");
  const int32_t nv = model.hparams().n_vocab;
  auto cache = model.make_cache(static_cast<int64_t>(prompt.size()) + n_steps + 1);
  AttentionTrace t;
  AttentionCapture cap;
  ForwardHooks hooks;
  hooks.attention = &cap;
  Batch b;
  for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  cap.batch_index = {static_cast<int32_t>(prompt.size() - 1)};
  Logits lg = model.forward(b, *cache, pool, &hooks);
  t.at_prompt_end = passage_attention(cap.weights[0], passages, gold);
  t.gold_share.push_back(t.at_prompt_end.gold_share);
  for (int s = 0; s < n_steps; ++s) {
    const float* row = lg.row(0);
    const int32_t next = static_cast<int32_t>(std::max_element(row, row + nv) - row);
    b.clear();
    b.add(next, static_cast<int32_t>(prompt.size()) + s, 0, true);
    cap.batch_index = {0};
    lg = model.forward(b, *cache, pool, &hooks);
    t.gold_share.push_back(passage_attention(cap.weights[0], passages, gold).gold_share);
  }
  t.drift = t.gold_share.back() - t.gold_share.front();
  return t;
}

}  // namespace edgerag
