// Loads what `edgerag serve` (and `bench serve`) serve from resolved paths.
#pragma once
#include <string>

#include "server/http_server.h"

namespace edgerag::server {

struct ModelPaths {
  std::string llm{}, embed{}, rerank{}, index_dir{};  // empty = not served
  std::string llm_small{};  // RAG routing's small LLM (ServedModels::llm_small); empty = none
};

ServedModels load_models(const ModelPaths& paths, const LlmOptions& llm_options);

}  // namespace edgerag::server
