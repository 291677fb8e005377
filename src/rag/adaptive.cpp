#include "rag/adaptive.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace edgerag::rag {

nlohmann::json to_json(const std::vector<AdaptiveStep>& steps) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : steps)
    out.push_back({{"stage", s.stage}, {"decision", s.decision}, {"reason", s.reason}, {"ms", s.ms}, {"joules", s.joules}});
  return out;
}

StageDecision decide_hyde(const AdaptiveConfig& c, const QuerySignals& s, bool available) {
  switch (c.hyde) {
    case StageMode::Off: return {false, "hyde off"};
    case StageMode::On:
      return available ? StageDecision{true, "hyde on"}
                       : StageDecision{false, "hyde needs an LLM and an index with dense vectors"};
    case StageMode::Auto:
      if (!available) return {false, "hyde needs an LLM and an index with dense vectors"};
      if (s.difficulty >= c.hyde_threshold)
        return {true, fmt::format("difficulty {:.3f} >= hyde_threshold {:.3f}", s.difficulty, c.hyde_threshold)};
      return {false, fmt::format("difficulty {:.3f} < hyde_threshold {:.3f}", s.difficulty, c.hyde_threshold)};
  }
  return {};
}

StageDecision decide_route(const AdaptiveConfig& c, const QuerySignals& s, bool has_small) {
  if (!has_small) return {false, "no small model configured"};
  if (c.route == "small") return {true, "route = small"};
  if (c.route == "large" || c.route == "off") return {false, fmt::format("route = {}", c.route)};
  if (s.difficulty < c.route_threshold)
    return {true, fmt::format("{} question, difficulty {:.3f} < route_threshold {:.3f}", question_form_name(s.form),
                              s.difficulty, c.route_threshold)};
  return {false, fmt::format("{} question, difficulty {:.3f} >= route_threshold {:.3f}", question_form_name(s.form),
                             s.difficulty, c.route_threshold)};
}

StageDecision decide_context(const AdaptiveConfig& c, const QuerySignals& s) {
  switch (c.context) {
    case StageMode::Off: return {false, "context fixed"};
    case StageMode::On: return {true, "context trimmed for every question"};
    case StageMode::Auto:
      if (s.difficulty < c.context_threshold)
        return {true, fmt::format("difficulty {:.3f} < context_threshold {:.3f}", s.difficulty, c.context_threshold)};
      return {false, fmt::format("difficulty {:.3f} >= context_threshold {:.3f}", s.difficulty, c.context_threshold)};
  }
  return {};
}

int easy_context_chunks(const AdaptiveConfig& c, int max_chunks) {
  // The seed's "15 docs -> 10 docs": two thirds unless configured.
  const int n = c.easy_chunks > 0 ? c.easy_chunks : (2 * max_chunks + 2) / 3;
  return std::clamp(n, 1, max_chunks);
}

std::string hyde_system_prompt() {
  return "Write a short passage, two or three sentences, that answers the question as an encyclopedia or a "
         "manual would. Do not say that you are unsure; do not ask questions.";
}

std::string hyde_user_message(const std::string& question) { return "Question: " + question + "\nPassage:"; }

RouteModels parse_route_models(const std::string& spec) {
  RouteModels r;
  size_t at = 0;
  while (at <= spec.size()) {
    const size_t comma = std::min(spec.find(',', at), spec.size());
    const std::string part = spec.substr(at, comma - at);
    const size_t eq = part.find('=');
    EDGERAG_CHECK(eq != std::string::npos && eq + 1 < part.size(),
                  "--route: expected small=MODEL,large=MODEL, got \"{}\"", spec);
    const std::string role = part.substr(0, eq);
    EDGERAG_CHECK(role == "small" || role == "large", "--route: unknown role \"{}\" (small, large)", role);
    (role == "small" ? r.small : r.large) = part.substr(eq + 1);
    at = comma + 1;
  }
  return r;
}

AdaptiveStep adaptive_step(const AdaptiveConfig& c, std::string stage, std::string decision, std::string reason,
                           double ms) {
  return {std::move(stage), std::move(decision), std::move(reason), ms, 0.7 * c.watts * ms / 1000};
}

}  // namespace edgerag::rag
