// A measured answer confidence in [0, 1], from retrieval evidence and the
// answer itself instead of a percentage the LLM writes:
//
//   evidence = mean over the first supplied chunk's scores of
//              clamp(dense cosine, 0, 1), bm25 / (bm25 + 5), logistic(rerank)
//   margin, agreement  from rag/query_signals.h (agreement 0.5 when not hybrid)
//   coverage = share of the answer's sentences that cite a supplied chunk
//   token_p  = exp(mean log-probability of the answer tokens), when known
//
//   confidence = (0.35 evidence + 0.15 margin + 0.15 agreement + 0.35 coverage
//                 [+ 0.25 token_p]) / (1 [+ 0.25])
//
// The weights are a starting point; `edgerag eval qa` reports how well the
// figure is calibrated on a user's data (reliability table, expected
// calibration error), from which an abstention threshold (min_confidence) is chosen.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rag/query_signals.h"
#include "rag/search_types.h"

namespace edgerag::rag {

struct ConfidenceParts {
  double evidence = 0, margin = 0, agreement = 0, coverage = 0;
  std::optional<double> token_p;
  double confidence = 0;
};

// `answer` with its [n] markers; `context` the chunks supplied, best first.
ConfidenceParts answer_confidence(const std::string& answer, const std::vector<SearchHit>& context,
                                  const QuerySignals& signals, std::optional<double> token_p = std::nullopt);
nlohmann::json to_json(const ConfidenceParts& c);

// Share of sentences (split at . ! ? and line ends, markers kept with their
// sentence) holding a [n] marker with 1 <= n <= n_context.
double citation_coverage(const std::string& answer, int n_context);

// The text an abstaining answer gives.
inline constexpr const char* kAbstainText = "The context does not contain the answer.";

}  // namespace edgerag::rag
