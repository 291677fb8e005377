// Attention-based diagnostics of a RAG prompt, from the engine's own attention
// weights (ForwardHooks::attention): the share of the answer position's
// attention mass that lands on each passage, the gold passage's rank among
// them, and how the gold share drifts while the answer is generated.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "util/thread_pool.h"

namespace edgerag {

struct TokenSpan {
  int32_t begin = 0, end = 0;  // prompt positions [begin, end)
};

struct PassageAttention {
  std::vector<double> share;  // per passage: mean over layers and heads of the attention mass on it
  double gold_share = 0;
  int gold_rank = 0;          // 1 = the most attended passage
  // Gini coefficient of the shares (0: spread evenly, -> 1: one passage takes it
  // all): how concentrated the attention over the passages is.
  double gini = 0;
};

// Gini coefficient of non-negative values: sum |x_i - x_j| over all ordered pairs
// / (2 n^2 mean); 0 for fewer than 2 values or an all-zero list.
double gini_coefficient(const std::vector<double>& x);

// weights[layer][head][pos] of one query token.
PassageAttention passage_attention(const std::vector<std::vector<std::vector<float>>>& weights,
                                   const std::vector<TokenSpan>& passages, size_t gold);

struct AttentionTrace {
  PassageAttention at_prompt_end;      // the token that predicts the first answer token
  std::vector<double> gold_share;      // at the prompt end, then after each generated token
  double drift = 0;                    // last - first gold share
};

// Prefills `prompt` and decodes n_steps greedy tokens, capturing attention each step.
AttentionTrace trace_attention(const Model& model, const std::vector<int32_t>& prompt,
                               const std::vector<TokenSpan>& passages, size_t gold, int n_steps, ThreadPool* pool);

}  // namespace edgerag
