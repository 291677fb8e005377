#include "rag/search_json.h"

namespace edgerag::rag {

nlohmann::json to_json(const Provenance& p) {
  nlohmann::json j = {{"doc_id", p.doc_id},     {"collection", p.collection}, {"path", p.path},
                      {"file_type", p.file_type}, {"title", p.title},         {"headings", p.headings},
                      {"chunk_index", p.chunk_index}, {"byte_begin", p.byte_begin}, {"byte_end", p.byte_end}};
  if (p.page > 0) j["page"] = p.page;
  if (p.row_begin >= 0) {
    j["row_begin"] = p.row_begin;
    j["row_end"] = p.row_end;
  }
  return j;
}

nlohmann::json to_json(const SearchHit& h) {
  nlohmann::json scores = nlohmann::json::object();
  if (h.scores.bm25) scores["bm25"] = *h.scores.bm25;
  if (h.scores.bm25_rank) scores["bm25_rank"] = *h.scores.bm25_rank;
  if (h.scores.dense) scores["dense"] = *h.scores.dense;
  if (h.scores.dense_rank) scores["dense_rank"] = *h.scores.dense_rank;
  if (h.scores.fused) scores["fused"] = *h.scores.fused;
  if (h.scores.rerank) scores["rerank"] = *h.scores.rerank;
  return {{"chunk_id", h.chunk_id}, {"score", h.score},  {"scores", scores},
          {"text", h.text},         {"neighbor", h.neighbor}, {"provenance", to_json(h.provenance)}};
}

nlohmann::json to_json(const SearchResponse& r) {
  nlohmann::json hits = nlohmann::json::array();
  for (const auto& h : r.hits) hits.push_back(to_json(h));
  const StageTimings& t = r.timings;
  nlohmann::json j = {{"hits", hits},
                      {"reranked", r.reranked},
                      {"timings_ms",
                       {{"embed", t.embed_ms}, {"bm25", t.bm25_ms}, {"dense", t.dense_ms}, {"fuse", t.fuse_ms},
                        {"expand", t.expand_ms}, {"rerank", t.rerank_ms}, {"total", t.total_ms}}}};
  if (!r.rerank_note.empty()) j["rerank_note"] = r.rerank_note;
  return j;
}

nlohmann::json to_json(const IngestReport& r) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& [path, why] : r.failures) failures.push_back({{"path", path}, {"error", why}});
  return {{"files", r.files_seen}, {"added", r.added},     {"updated", r.updated},
          {"unchanged", r.unchanged}, {"removed", r.removed}, {"failed", r.failed},
          {"chunks", r.chunks_written}, {"seconds", r.seconds}, {"failures", failures},
          {"missing", r.missing}};
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace edgerag::rag
