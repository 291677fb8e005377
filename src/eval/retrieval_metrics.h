// Retrieval metrics with the BEIR toolkit's definitions (pytrec_eval /
// trec_eval for nDCG and recall, BEIR's own MRR@k): linear gains, log2
// discounts, documents ranked by score then by id descending (trec_eval's
// tie order), relevant = relevance >= 1.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace edgerag::eval {

using Judgments = std::map<std::string, int>;           // doc id -> relevance
using Qrels = std::map<std::string, Judgments>;         // query id -> judgments
using Scored = std::vector<std::pair<std::string, double>>;  // doc id, score
using Run = std::map<std::string, Scored>;              // query id -> retrieved docs

// Doc ids in trec_eval order: score descending, ties by doc id descending.
std::vector<std::string> trec_order(Scored scored);

double ndcg_at(const std::vector<std::string>& ranked, const Judgments& rel, size_t k);
double recall_at(const std::vector<std::string>& ranked, const Judgments& rel, size_t k);
double mrr_at(const std::vector<std::string>& ranked, const Judgments& rel, size_t k);

struct RetrievalMetrics {
  double ndcg_at_10 = 0, recall_at_100 = 0, mrr_at_10 = 0;
  size_t queries = 0;
};

// Means over the queries of `qrels` that have a relevant document; a query
// missing from the run counts as 0.
RetrievalMetrics evaluate_run(const Qrels& qrels, const Run& run);

// Linear-interpolated percentile (numpy's default), p in [0, 100].
double percentile(std::vector<double> values, double p);

}  // namespace edgerag::eval
