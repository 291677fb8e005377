#include "rag/query_signals.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include <nlohmann/json.hpp>

#include "rag/extract.h"

namespace edgerag::rag {

const char* question_form_name(QuestionForm f) {
  switch (f) {
    case QuestionForm::Factoid: return "factoid";
    case QuestionForm::Why: return "why";
    case QuestionForm::How: return "how";
    case QuestionForm::Compare: return "compare";
    case QuestionForm::MultiPart: return "multi-part";
  }
  return "?";
}

QuestionForm question_form(std::string_view question) {
  std::vector<std::string> words;
  std::string w;
  int question_marks = 0;
  for (size_t i = 0; i <= question.size(); ++i) {
    const unsigned char c = i < question.size() ? static_cast<unsigned char>(question[i]) : ' ';
    question_marks += c == '?';
    if (std::isalnum(c)) {
      w += static_cast<char>(std::tolower(c));
    } else if (!w.empty()) {
      words.push_back(std::move(w));
      w.clear();
    }
  }
  auto has = [&](std::initializer_list<const char*> any) {
    return std::any_of(words.begin(), words.end(),
                       [&](const std::string& x) { return std::find(any.begin(), any.end(), x) != any.end(); });
  };
  if (has({"compare", "compared", "comparison", "difference", "differences", "differ", "versus", "vs"}))
    return QuestionForm::Compare;
  if (question_marks > 1) return QuestionForm::MultiPart;
  static const std::vector<std::string> kWh = {"what", "which", "who", "when", "where", "why", "how"};
  int wh = 0;
  bool and_after_wh = false;
  for (const auto& x : words) {
    if (std::find(kWh.begin(), kWh.end(), x) != kWh.end()) ++wh;
    and_after_wh |= wh > 0 && x == "and";
  }
  if (wh > 1 && and_after_wh) return QuestionForm::MultiPart;
  if (has({"why"})) return QuestionForm::Why;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] != "how") continue;
    const std::string next = i + 1 < words.size() ? words[i + 1] : "";
    if (next != "many" && next != "much" && next != "old" && next != "long" && next != "often" && next != "far")
      return QuestionForm::How;
  }
  return QuestionForm::Factoid;
}

QuerySignals query_signals(const std::string& question, const SearchResponse& r) {
  QuerySignals s;
  s.form = question_form(question);
  s.terms = static_cast<int>(question_terms(question).size());
  s.agreement = r.agreement;
  if (r.hits.size() >= 2 && r.hits[0].score > 0)
    s.margin = std::clamp((r.hits[0].score - r.hits[1].score) / r.hits[0].score, 0.0, 1.0);
  else if (r.hits.size() == 1)
    s.margin = 1;
  double top_bm25 = 0;
  for (const auto& h : r.hits) top_bm25 = std::max(top_bm25, h.scores.bm25.value_or(0));
  s.specificity = s.terms > 0 ? top_bm25 / s.terms : 0;
  const double form = s.form == QuestionForm::Factoid ? 0 : 1;
  const double agree = s.agreement < 0 ? 0.5 : s.agreement;
  s.difficulty = 0.35 * form + 0.25 * (1 - agree) + 0.20 * (1 - std::min(1.0, s.margin / 0.5)) +
                 0.10 * std::min(1.0, std::max(0, s.terms - 6) / 10.0) +
                 0.10 * (1 - std::min(1.0, s.specificity / 4));
  return s;
}

nlohmann::json to_json(const QuerySignals& s) {
  return {{"form", question_form_name(s.form)},
          {"terms", s.terms},
          {"agreement", s.agreement < 0 ? nlohmann::json() : nlohmann::json(s.agreement)},
          {"margin", s.margin},
          {"specificity", s.specificity},
          {"difficulty", s.difficulty}};
}

}  // namespace edgerag::rag
