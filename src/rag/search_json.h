// JSON forms of search results and ingest reports (CLI --json, HTTP API).
#pragma once
#include <nlohmann/json.hpp>

#include "rag/ingest_types.h"
#include "rag/search_types.h"

namespace edgerag::rag {

nlohmann::json to_json(const Provenance& p);
nlohmann::json to_json(const SearchHit& h);
nlohmann::json to_json(const SearchResponse& r);
nlohmann::json to_json(const IngestReport& r);

// JSON text for output, indented by `indent` (-1: compact). Document text and
// file names may hold invalid UTF-8; it is written as U+FFFD, not an exception.
std::string json_text(const nlohmann::json& j, int indent = 1);

}  // namespace edgerag::rag
