// The break-even of each query-adaptive stage on a user's BEIR-format data:
// every query runs with the stage off and on, and per stage the report gives
// the quality difference (retrieval nDCG@10 / recall@k of the ranked chunks'
// documents), the extra latency and energy, the share of queries it helped
// or hurt, and the difficulty threshold `auto` would use on this data (the one
// that maximizes the summed nDCG@10 gain when the stage runs only for queries
// at or above it; ties: the higher threshold, fewer runs).
//
//   hyde     off vs on (needs an LLM and an embedder)
//   context  full vs trimmed context: recall of the supplied chunks' documents;
//            its threshold is the highest under which no query lost recall
//   route    large vs small model answer latency (with a small model; answer
//            quality needs a QA set with answers: `edgerag eval qa`)
//   cache    a repeated query answered from the answer cache vs answered anew
#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "rag/config.h"

namespace edgerag::eval {

struct AdaptiveEvalOptions {
  std::string beir_dir, split = "test";
  std::string llm, small_llm, embed;  // resolved model paths; embed is required
  size_t limit = 0;          // queries (0 = all judged ones)
  size_t corpus_limit = 0;   // 0 = the whole corpus; else the judged documents of the queries run plus
                             // the first documents of the corpus up to this many (a quick subset)
  int k = 10;                // chunks retrieved (recall@k) and prompt.max_chunks
  int answer_tokens = 16;    // answers generated for the route stage
  int threads = 0;
  double tdp_watts = 0;      // energy estimate when RAPL is unreadable (0: none)
  rag::AnswerConfig config;  // thresholds and the rest of the pipeline's settings
};

// {dataset, queries, corpus_documents, energy_method, stages:{hyde:{...}, context:{...}, route:{...}, cache:{...}},
//  per_query:[{id, difficulty, form, hyde:{ndcg_off, ndcg_on, ms_off, ms_on}, ...}]}
nlohmann::json run_adaptive_eval(const AdaptiveEvalOptions& opt);

// The threshold `auto` should use: among the candidate difficulties (and
// "never", returned as > 1), the one whose stage runs (difficulty >= t)
// maximize the summed gain; ties go to the higher threshold.
double best_threshold(const std::vector<double>& difficulty, const std::vector<double>& gain);

}  // namespace edgerag::eval
