#include "eval/retrieval_metrics.h"

#include <algorithm>
#include <cmath>

namespace edgerag::eval {

std::vector<std::string> trec_order(Scored scored) {
  std::sort(scored.begin(), scored.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first > b.first; });
  std::vector<std::string> ids;
  ids.reserve(scored.size());
  for (auto& s : scored) ids.push_back(std::move(s.first));
  return ids;
}

static int relevance(const Judgments& rel, const std::string& doc) {
  auto it = rel.find(doc);
  return it == rel.end() ? 0 : it->second;
}

double ndcg_at(const std::vector<std::string>& ranked, const Judgments& rel, size_t k) {
  double dcg = 0;
  for (size_t i = 0; i < std::min(k, ranked.size()); ++i)
    if (int r = relevance(rel, ranked[i]); r > 0) dcg += r / std::log2(static_cast<double>(i) + 2);
  std::vector<int> ideal;
  for (const auto& [doc, r] : rel)
    if (r > 0) ideal.push_back(r);
  std::sort(ideal.rbegin(), ideal.rend());
  double idcg = 0;
  for (size_t i = 0; i < std::min(k, ideal.size()); ++i) idcg += ideal[i] / std::log2(static_cast<double>(i) + 2);
  return idcg > 0 ? dcg / idcg : 0;
}

double recall_at(const std::vector<std::string>& ranked, const Judgments& rel, size_t k) {
  size_t n_rel = 0, found = 0;
  for (const auto& [doc, r] : rel) n_rel += r >= 1;
  for (size_t i = 0; i < std::min(k, ranked.size()); ++i) found += relevance(rel, ranked[i]) >= 1;
  return n_rel ? static_cast<double>(found) / static_cast<double>(n_rel) : 0;
}

double mrr_at(const std::vector<std::string>& ranked, const Judgments& rel, size_t k) {
  for (size_t i = 0; i < std::min(k, ranked.size()); ++i)
    if (relevance(rel, ranked[i]) >= 1) return 1.0 / static_cast<double>(i + 1);
  return 0;
}

RetrievalMetrics evaluate_run(const Qrels& qrels, const Run& run) {
  RetrievalMetrics m;
  for (const auto& [qid, rel] : qrels) {
    if (std::none_of(rel.begin(), rel.end(), [](const auto& r) { return r.second >= 1; })) continue;
    ++m.queries;
    auto it = run.find(qid);
    if (it == run.end()) continue;
    auto ranked = trec_order(it->second);
    m.ndcg_at_10 += ndcg_at(ranked, rel, 10);
    m.recall_at_100 += recall_at(ranked, rel, 100);
    m.mrr_at_10 += mrr_at(ranked, rel, 10);
  }
  if (m.queries) {
    double n = static_cast<double>(m.queries);
    m.ndcg_at_10 /= n;
    m.recall_at_100 /= n;
    m.mrr_at_10 /= n;
  }
  return m;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  auto lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace edgerag::eval
