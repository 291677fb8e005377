// Question answering with a local decoder: SQuAD answer normalization and
// EM/F1, loaders for SQuAD JSON, NQ-open JSONL and RGB JSONL, and an evaluator
// that answers closed-book or with the gold passage, optionally padded with
// distractor passages to a target context length (gold at a chosen relative
// position), giving accuracy per context length and its slope per 1K tokens.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "eval/degradation.h"
#include "model/model.h"
#include "util/thread_pool.h"

namespace edgerag {

struct QaItem {
  std::string id, question;
  std::vector<std::string> answers;  // any of them counts
  std::string gold_passage;          // empty for NQ-open
  std::vector<std::string> distractors;
};

// Lower case, no punctuation, no articles (a/an/the), single spaces (SQuAD's evaluator).
std::string squad_normalize(std::string_view s);
double exact_match(std::string_view prediction, const std::vector<std::string>& answers);
double f1_score(std::string_view prediction, const std::vector<std::string>& answers);

// Answerable questions of a SQuAD JSON file (other paragraphs of the same article
// become distractors), NQ-open JSONL ({"question", "answer": [...]}) or RGB JSONL
// ({"query", "answer", "positive", "negative"}). At most max_items (0 = all).
std::vector<QaItem> load_qa(const std::string& path, size_t max_items = 0);

struct QaOptions {
  std::string mode = "gold";          // closed | gold
  std::vector<int> context_tokens;    // pad to these lengths (gold mode); empty = gold passage alone
  double gold_position = 0.5;         // 0 = first passage, 1 = last
  int max_new_tokens = 16;
  bool attention = false;             // gold mode: attention share / rank / drift of the gold passage
  KvType kv_type = default_kv_type();  // KV cache type of the generator
};

struct QaScore {
  int context_tokens = 0;  // 0 = unpadded
  int n = 0, skipped = 0;  // skipped: prompt does not fit the model's context
  double em = 0, f1 = 0;
  // With QaOptions::attention: means over the answered items (attention_metrics.h).
  double gold_attention_share = 0, gold_rank = 0, attention_drift = 0;
  // The study's attention-preservation columns: share of items whose gold passage is
  // the most attended (precision@1), the median gold rank, the mean Gini coefficient
  // of the passage shares.
  double gold_precision_at_1 = 0, gold_rank_median = 0, attention_gini = 0;
  // Attention-quality correlations across the answered items (correlation.h) and the
  // mean drift at correct (EM 1) and wrong answers.
  double share_f1_pearson = 0, share_f1_spearman = 0, drift_f1_pearson = 0, drift_f1_spearman = 0;
  double drift_correct = 0, drift_wrong = 0;
  int n_correct = 0;
};

struct QaResult {
  std::string mode;
  std::vector<QaScore> scores;  // one per context length
  double em_slope_per_1k = 0, f1_slope_per_1k = 0;  // least squares over the padded lengths
  Degradation em_degradation, f1_degradation;        // the same fits with R^2, significance, cliff
  double seconds = 0;
};

// Greedy answers (first line of the generation) scored against the gold answers.
QaResult eval_qa(const Model& model, const std::vector<QaItem>& items, const QaOptions& opt, ThreadPool* pool);

}  // namespace edgerag
