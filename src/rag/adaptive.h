// The query-adaptive stages' decisions: each stage (HyDE, model routing,
// context trimming) runs or not per question, from the difficulty estimate of
// rag/query_signals.h and the thresholds of AdaptiveConfig (rag/config.h).
// Every decision taken for an answer is recorded as an AdaptiveStep with what
// it cost, so answers show which stages ran and what they took.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rag/config.h"
#include "rag/query_signals.h"

namespace edgerag::rag {

struct AdaptiveStep {
  std::string stage;     // "cache" | "hyde" | "route" | "context" | "confidence"
  std::string decision;  // hit/miss, on/off, small/large, trimmed/full, answered/abstained
  std::string reason;
  double ms = 0;         // time the stage took (0 for a pure decision)
  double joules = 0;     // estimated: 0.7 * AdaptiveConfig::watts * seconds
};
nlohmann::json to_json(const std::vector<AdaptiveStep>& steps);

struct StageDecision {
  bool on = false;
  std::string reason;
};

// HyDE: "on" always (when `available`: an LLM to write and an embedder with
// dense vectors to search), "auto" when difficulty >= hyde_threshold.
StageDecision decide_hyde(const AdaptiveConfig& c, const QuerySignals& s, bool available);
// Routing: on = the small model. "auto" when difficulty < route_threshold;
// never without a small model, always with route = "small".
StageDecision decide_route(const AdaptiveConfig& c, const QuerySignals& s, bool has_small);
// Context trimming: on = use context_chunks(), else max_chunks.
StageDecision decide_context(const AdaptiveConfig& c, const QuerySignals& s);
int easy_context_chunks(const AdaptiveConfig& c, int max_chunks);

// The system and user messages asking for HyDE's hypothetical passage.
std::string hyde_system_prompt();
std::string hyde_user_message(const std::string& question);

// "small=MODEL,large=MODEL" (either part optional, any order) -> {small, large}.
struct RouteModels {
  std::string small, large;
};
RouteModels parse_route_models(const std::string& spec);

// A step with its energy estimate filled in from `c.watts`.
AdaptiveStep adaptive_step(const AdaptiveConfig& c, std::string stage, std::string decision, std::string reason,
                           double ms = 0);

}  // namespace edgerag::rag
