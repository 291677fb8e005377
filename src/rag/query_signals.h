// What a question looks like before any generation: its form (factoid or not)
// and signals from first-stage retrieval, combined into one difficulty
// estimate in [0, 1] that the adaptive stages (rag/adaptive.h) compare with
// their thresholds.
//
// difficulty = 0.35 * form        (0 factoid; 1 why / how / compare / multi-part)
//            + 0.25 * (1 - agreement)     top-10 overlap of BM25 and dense (hybrid only;
//                                         BM25-only retrieval counts as 0.5)
//            + 0.20 * (1 - min(1, margin / 0.5))   relative gap between the first two
//                                         first-stage scores ((s1 - s2) / s1)
//            + 0.10 * min(1, max(0, terms - 6) / 10)     long questions
//            + 0.10 * (1 - min(1, specificity / 4))  specificity: the top BM25 score per
//                                         content word, which is the mean IDF of the matched
//                                         words damped by term frequency (no extra lookups)
// The weights sum to 1. The thresholds that pay on a user's data come from
// `edgerag eval adaptive` (eval/adaptive_eval.h).
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "rag/search_types.h"

namespace edgerag::rag {

enum class QuestionForm { Factoid, Why, How, Compare, MultiPart };
const char* question_form_name(QuestionForm f);
// From the wording alone: "why"/"how" (not "how many/much/old/long"), compare
// words ("compare", "difference", "versus", "vs"), several questions or
// clauses joined by "and" after a question word; everything else is a factoid.
QuestionForm question_form(std::string_view question);

struct QuerySignals {
  QuestionForm form = QuestionForm::Factoid;
  int terms = 0;             // content words (rag/extract.h question_terms)
  double agreement = -1;     // -1 when retrieval was not hybrid
  double margin = 0;         // (s1 - s2) / s1 of the first-stage ranking, 0..1
  double specificity = 0;    // top BM25 score / terms
  double difficulty = 0;     // the formula above
};

QuerySignals query_signals(const std::string& question, const SearchResponse& first_stage);
nlohmann::json to_json(const QuerySignals& s);

}  // namespace edgerag::rag
