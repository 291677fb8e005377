#include "rag/confidence.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <nlohmann/json.hpp>

namespace edgerag::rag {

double citation_coverage(const std::string& answer, int n_context) {
  int sentences = 0, cited = 0;
  bool has_text = false, has_cite = false, ended = false;  // ended: markers after its full stop may follow
  auto next_is_marker = [&answer](size_t j) {
    while (j < answer.size() && answer[j] == ' ') ++j;
    return j < answer.size() && answer[j] == '[';
  };
  auto end_sentence = [&] {
    if (has_text) {
      ++sentences;
      cited += has_cite;
    }
    has_text = has_cite = false;
  };
  for (size_t i = 0; i < answer.size(); ++i) {
    const char c = answer[i];
    if (c == '[') {
      size_t j = i + 1;
      int n = 0;
      while (j < answer.size() && j < i + 5 && std::isdigit(static_cast<unsigned char>(answer[j])))
        n = n * 10 + (answer[j++] - '0');
      if (j > i + 1 && j < answer.size() && answer[j] == ']') {
        has_cite |= n >= 1 && n <= n_context;
        i = j;
        if (ended && !next_is_marker(i + 1)) end_sentence(), ended = false;
        continue;
      }
    }
    if (std::isalnum(static_cast<unsigned char>(c))) has_text = true;
    if (c == '.' || c == '!' || c == '?' || c == '\n') {
      // Markers right after the full stop ("... seconds. [1]") belong to this sentence.
      if (next_is_marker(i + 1))
        ended = true;
      else
        end_sentence(), ended = false;
    }
  }
  end_sentence();
  return sentences == 0 ? 0 : static_cast<double>(cited) / sentences;
}

ConfidenceParts answer_confidence(const std::string& answer, const std::vector<SearchHit>& context,
                                  const QuerySignals& signals, std::optional<double> token_p) {
  ConfidenceParts p;
  if (!context.empty()) {
    const StageScores& s = context.front().scores;
    double sum = 0;
    int n = 0;
    if (s.dense) sum += std::clamp(*s.dense, 0.0, 1.0), ++n;
    if (s.bm25) sum += std::max(0.0, *s.bm25) / (std::max(0.0, *s.bm25) + 5), ++n;
    if (s.rerank) sum += 1 / (1 + std::exp(-*s.rerank)), ++n;
    p.evidence = n ? sum / n : 0;
  }
  p.margin = std::clamp(signals.margin, 0.0, 1.0);
  p.agreement = signals.agreement < 0 ? 0.5 : std::clamp(signals.agreement, 0.0, 1.0);
  p.coverage = citation_coverage(answer, static_cast<int>(context.size()));
  p.token_p = token_p;
  double c = 0.35 * p.evidence + 0.15 * p.margin + 0.15 * p.agreement + 0.35 * p.coverage;
  if (token_p) c = (c + 0.25 * std::clamp(*token_p, 0.0, 1.0)) / 1.25;
  p.confidence = std::clamp(c, 0.0, 1.0);
  return p;
}

nlohmann::json to_json(const ConfidenceParts& c) {
  return {{"confidence", c.confidence},
          {"evidence", c.evidence},
          {"margin", c.margin},
          {"agreement", c.agreement},
          {"coverage", c.coverage},
          {"token_p", c.token_p ? nlohmann::json(*c.token_p) : nlohmann::json()}};
}

}  // namespace edgerag::rag
