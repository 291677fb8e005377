// Request bodies of the OpenAI-compatible endpoints, parsed and validated.
// Every problem throws ApiError 400 naming the offending field; fields the
// server does not use (user, ...) are accepted and ignored; logit_bias is
// checked (token ids in range) and then ignored.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/chat_template.h"
#include "runtime/local_llm.h"

namespace edgerag::server {

struct Limits {
  int max_tokens = 2048;         // per request (max_tokens above it is refused)
  int default_max_tokens = 256;  // when the request names none
  size_t max_inputs = 256;       // embedding inputs / rerank documents per request
  // Text of one request in bytes (prompt, chat message contents, embedding
  // inputs, rerank query + documents): refused before any tokenizing.
  size_t max_prompt_bytes = 1u << 20;
};

// Bounds on every JSON request body, checked by a scan before it is parsed:
// nesting depth and the number of values (parsed values cost ~50-100 bytes each).
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxJsonValues = 1u << 18;

// 400 on malformed JSON, a non-object, or a body past the bounds above.
nlohmann::json parse_json_body(const std::string& body);

struct GenerationRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  LlmParams job;
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions: text ...
  std::vector<int32_t> prompt_ids;    // ... or token ids
  std::vector<int32_t> logit_bias_ids;  // checked against the vocabulary, otherwise unused
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
  bool raw_scores = false;  // TEI's: the cross-encoder's raw score instead of its logistic
};
RerankRequest parse_rerank_request(const nlohmann::json& j, const Limits& limits);

}  // namespace edgerag::server
