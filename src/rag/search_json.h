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

}  // namespace edgerag::rag
