// Request bodies of the OpenAI-compatible endpoints, parsed and validated.
// Every problem throws ApiError 400 naming the offending field; fields the
// server does not use (user, logit_bias, ...) are accepted and ignored.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/chat_template.h"
#include "server/llm_service.h"

namespace edgerag::server {

struct Limits {
  int max_tokens = 2048;         // per request (max_tokens above it is refused)
  int default_max_tokens = 256;  // when the request names none
  size_t max_inputs = 256;       // embedding inputs / rerank documents per request
};

nlohmann::json parse_json_body(const std::string& body);  // 400 on malformed JSON or a non-object

struct GenerationRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  JobParams job;
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions: text ...
  std::vector<int32_t> prompt_ids;    // ... or token ids
};

GenerationRequest parse_chat_request(const nlohmann::json& j, const Limits& limits);
GenerationRequest parse_completion_request(const nlohmann::json& j, const Limits& limits);

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> input;
  bool base64 = false;  // encoding_format "base64": little-endian float32 bytes
};
EmbeddingRequest parse_embedding_request(const nlohmann::json& j, const Limits& limits);

struct RerankRequest {
  std::string model;
  std::string query;
  std::vector<std::string> documents;
  size_t top_n = 0;  // 0 = all
  bool return_documents = false;
};
RerankRequest parse_rerank_request(const nlohmann::json& j, const Limits& limits);

}  // namespace edgerag::server
