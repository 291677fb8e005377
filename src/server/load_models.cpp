#include "server/load_models.h"

#include <filesystem>

#include "util/log.h"

namespace edgerag::server {

ServedModels load_models(const ModelPaths& p, const LlmOptions& llm_options) {
  ServedModels m;
  auto stem = [](const std::string& path) { return std::filesystem::path(path).stem().string(); };
  if (!p.llm.empty()) {
    m.llm = LocalLlm::load(p.llm, llm_options);
    log(LogLevel::Info, "serving LLM '{}' (chat format {}, context {})", m.llm->id(), chat_format_name(m.llm->chat_format()),
        m.llm->n_ctx());
  }
  if (!p.llm_small.empty()) {
    m.llm_small = LocalLlm::load(p.llm_small, llm_options);
    log(LogLevel::Info, "routing easy RAG questions to LLM '{}'", m.llm_small->id());
  }
  if (!p.embed.empty()) {
    m.embed = Encoder::load(p.embed);
    EDGERAG_CHECK(!m.embed->is_reranker(), "--embed {}: this is a reranker model", p.embed);
    m.embed_id = stem(p.embed);
  }
  if (!p.rerank.empty()) {
    m.rerank = Encoder::load(p.rerank);
    EDGERAG_CHECK(m.rerank->is_reranker(), "--rerank {}: this model has no rank head", p.rerank);
    m.rerank_id = stem(p.rerank);
  }
  m.index_dir = p.index_dir;
  m.embed_path = p.embed;
  m.rerank_path = p.rerank;
  return m;
}

}  // namespace edgerag::server
