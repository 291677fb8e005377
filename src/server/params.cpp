#include "server/params.h"

#include "format/json_file.h"
#include "runtime/text_stream.h"
#include "server/api_error.h"

namespace edgerag::server {
namespace {

using nlohmann::json;

const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const json& j, const char* name, bool required) {
  const json* v = field(j, name);
  if (!v) {
    if (required) bad_param(name, "missing required parameter '{}'", name);
    return "";
  }
  if (!v->is_string()) bad_param(name, "'{}' must be a string", name);
  return v->get<std::string>();
}

double get_number(const json& j, const char* name, double def, double lo, double hi) {
  const json* v = field(j, name);
  if (!v) return def;
  if (!v->is_number()) bad_param(name, "'{}' must be a number", name);
  double d = v->get<double>();
  if (!(d >= lo && d <= hi)) bad_param(name, "'{}' must be between {} and {}, got {}", name, lo, hi, d);
  return d;
}

int64_t get_int(const json& j, const char* name, int64_t def, int64_t lo, int64_t hi) {
  const json* v = field(j, name);
  if (!v) return def;
  if (!v->is_number_integer()) bad_param(name, "'{}' must be an integer", name);
  int64_t i = v->get<int64_t>();
  if (i < lo || i > hi) bad_param(name, "'{}' must be between {} and {}, got {}", name, lo, hi, i);
  return i;
}

// A token id: a JSON integer in [0, 2^31) (a wider one is refused, never wrapped).
int32_t token_id(const json& x, const std::string& param) {
  if (x.is_number_unsigned()) {
    const uint64_t v = x.get<uint64_t>();
    if (v <= static_cast<uint64_t>(INT32_MAX)) return static_cast<int32_t>(v);
    bad_param(param, "token id {} is out of range", v);
  }
  if (x.is_number_integer()) {
    const int64_t v = x.get<int64_t>();
    if (v >= 0 && v <= INT32_MAX) return static_cast<int32_t>(v);
    bad_param(param, "token id {} is out of range", v);
  }
  bad_param(param, "token ids must be integers");
}

void check_text_bytes(size_t bytes, const Limits& limits, const char* param) {
  if (bytes > limits.max_prompt_bytes)
    throw ApiError(400, "invalid_request_error",
                   fmt::format("'{}' has {} bytes; the limit is {}", param, bytes, limits.max_prompt_bytes), param,
                   "context_length_exceeded");
}

bool get_bool(const json& j, const char* name, bool def) {
  const json* v = field(j, name);
  if (!v) return def;
  if (!v->is_boolean()) bad_param(name, "'{}' must be a boolean", name);
  return v->get<bool>();
}

// Fields shared by chat and text completions.
GenerationRequest parse_common(const json& j, const Limits& limits) {
  GenerationRequest r;
  r.model = get_string(j, "model", true);
  r.stream = get_bool(j, "stream", false);
  if (const json* so = field(j, "stream_options")) {
    if (!so->is_object()) bad_param("stream_options", "'stream_options' must be an object");
    r.include_usage = get_bool(*so, "include_usage", false);
  }
  if (get_int(j, "n", 1, 1, 1000) != 1) bad_param("n", "only n=1 is supported");
  const char* mt = field(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  r.job.max_tokens = static_cast<int>(get_int(j, mt, limits.default_max_tokens, 1, limits.max_tokens));
  auto& s = r.job.sampling;
  s.temperature = static_cast<float>(get_number(j, "temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(get_number(j, "top_p", 1.0, 0.0, 1.0));
  if (s.top_p <= 0) bad_param("top_p", "'top_p' must be greater than 0");
  s.top_k = static_cast<int32_t>(get_int(j, "top_k", 0, 0, 1 << 20));
  s.min_p = static_cast<float>(get_number(j, "min_p", 0.0, 0.0, 1.0));
  s.repeat_penalty = static_cast<float>(get_number(j, "repeat_penalty", 1.0, 0.0, 10.0));
  s.seed = static_cast<uint64_t>(get_int(j, "seed", 0, INT64_MIN, INT64_MAX));
  if (const json* stop = field(j, "stop")) {
    if (stop->is_string()) {
      r.job.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 4) {
      for (const auto& x : *stop) {
        if (!x.is_string()) bad_param("stop", "'stop' must be a string or an array of up to 4 strings");
        r.job.stop.push_back(x.get<std::string>());
      }
    } else {
      bad_param("stop", "'stop' must be a string or an array of up to 4 strings");
    }
    for (const auto& x : r.job.stop)
      if (x.empty() || x.size() > TextStream::kMaxStopBytes)
        bad_param("stop", "stop strings must have 1..{} bytes", TextStream::kMaxStopBytes);
  }
  // Extension: "edgerag": {"speculative": "off"|"lookup"|"auto"|"draft", "draft_max": N};
  // "draft" uses the draft model the server was started with.
  if (const json* ext = field(j, "edgerag")) {
    if (!ext->is_object()) bad_param("edgerag", "'edgerag' must be an object");
    const std::string mode = get_string(*ext, "speculative", false);
    if (!mode.empty() && mode != "off" && mode != "lookup" && mode != "auto" && mode != "draft")
      bad_param("edgerag.speculative", "'speculative' must be off, lookup, auto or draft");
    const int draft_max = static_cast<int>(get_int(*ext, "draft_max", 8, 1, 32));
    if (!mode.empty()) r.job.spec = parse_speculative(mode == "draft" ? "draft:server" : mode, draft_max);
  }
  // OpenAI's logit_bias: {"token id": bias in [-100, 100]}.
  if (const json* lb = field(j, "logit_bias")) {
    if (!lb->is_object()) bad_param("logit_bias", "'logit_bias' must be an object of token id -> bias");
    for (const auto& [key, bias] : lb->items()) {
      if (key.empty() || key.size() > 10 || !std::all_of(key.begin(), key.end(), ::isdigit) ||
          std::stoll(key) > INT32_MAX)
        bad_param("logit_bias", "logit_bias key '{}' is not a token id", key);
      if (!bias.is_number() || !(bias.get<double>() >= -100 && bias.get<double>() <= 100))
        bad_param("logit_bias", "logit_bias values must be numbers between -100 and 100");
      r.logit_bias_ids.push_back(static_cast<int32_t>(std::stoll(key)));
    }
  }
  return r;
}

// OpenAI content: a string, or an array of parts of which only text is supported.
std::string message_content(const json& m, size_t i) {
  const std::string param = fmt::format("messages[{}].content", i);
  const json* c = field(m, "content");
  if (!c) return "";
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) bad_param(param, "'{}' must be a string or an array of text parts", param);
  std::string text;
  for (const auto& part : *c) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string())
      bad_param(param, "only text content parts are supported");
    text += part["text"].get<std::string>();
  }
  return text;
}

std::vector<std::string> string_list(const json& j, const char* name, const Limits& limits, bool allow_objects) {
  const json* v = field(j, name);
  if (!v) bad_param(name, "missing required parameter '{}'", name);
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const auto& x : *v) {
      if (x.is_string()) out.push_back(x.get<std::string>());
      else if (allow_objects && x.is_object() && x.contains("text") && x["text"].is_string())
        out.push_back(x["text"].get<std::string>());
      else bad_param(name, "'{}' must be a string or an array of strings", name);
    }
  } else {
    bad_param(name, "'{}' must be a string or an array of strings", name);
  }
  if (out.empty()) bad_param(name, "'{}' must not be empty", name);
  if (out.size() > limits.max_inputs) bad_param(name, "'{}' has {} items; the limit is {}", name, out.size(), limits.max_inputs);
  return out;
}

}  // namespace

json parse_json_body(const std::string& body) {
  // Depth and value count first: a body of nested '[' would otherwise cost
  // ~40 bytes of parsed value per byte of input before any check ran.
  switch (check_json_shape(body, {.depth = kMaxJsonDepth, .values = kMaxJsonValues})) {
    case JsonShapeExcess::kDepth:
      throw ApiError(400, "invalid_request_error", fmt::format("request JSON nests deeper than {}", kMaxJsonDepth));
    case JsonShapeExcess::kValues:
      throw ApiError(400, "invalid_request_error", fmt::format("request JSON has more than {} values", kMaxJsonValues));
    default:
      break;
  }
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw ApiError(400, "invalid_request_error", "request body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "invalid_request_error", "request body must be a JSON object");
  return j;
}

GenerationRequest parse_chat_request(const json& j, const Limits& limits) {
  GenerationRequest r = parse_common(j, limits);
  const json* msgs = field(j, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty()) bad_param("messages", "'messages' must be a non-empty array");
  size_t bytes = 0;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    if (!m.is_object()) bad_param("messages", "messages[{}] must be an object", i);
    std::string role = get_string(m, "role", true);
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      bad_param(fmt::format("messages[{}].role", i), "unsupported role '{}'", role);
    r.messages.push_back({role, message_content(m, i)});
    bytes += r.messages.back().content.size();
    check_text_bytes(bytes, limits, "messages");
  }
  return r;
}

GenerationRequest parse_completion_request(const json& j, const Limits& limits) {
  GenerationRequest r = parse_common(j, limits);
  const json* p = field(j, "prompt");
  if (!p) bad_param("prompt", "missing required parameter 'prompt'");
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  if (p->is_string()) {
    r.prompt = p->get<std::string>();
    if (r.prompt.empty()) bad_param("prompt", "'prompt' must not be empty");
    check_text_bytes(r.prompt.size(), limits, "prompt");
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& x) {
               return x.is_number_integer();
             })) {
    for (const auto& x : *p) r.prompt_ids.push_back(token_id(x, "prompt"));
  } else {
    bad_param("prompt", "'prompt' must be a string or an array of token ids (one prompt per request)");
  }
  return r;
}

EmbeddingRequest parse_embedding_request(const json& j, const Limits& limits) {
  EmbeddingRequest r;
  r.model = get_string(j, "model", true);
  r.input = string_list(j, "input", limits, false);
  size_t bytes = 0;
  for (const auto& s : r.input) bytes += s.size();
  check_text_bytes(bytes, limits, "input");
  std::string fmt = get_string(j, "encoding_format", false);
  if (!fmt.empty() && fmt != "float" && fmt != "base64")
    bad_param("encoding_format", "'encoding_format' must be 'float' or 'base64'");
  r.base64 = fmt == "base64";
  if (field(j, "dimensions")) bad_param("dimensions", "'dimensions' is not supported");
  return r;
}

RerankRequest parse_rerank_request(const json& j, const Limits& limits) {
  RerankRequest r;
  r.model = get_string(j, "model", false);
  r.query = get_string(j, "query", true);
  r.documents = string_list(j, "documents", limits, true);
  size_t bytes = r.query.size();
  for (const auto& s : r.documents) bytes += s.size();
  check_text_bytes(bytes, limits, "documents");
  r.top_n = static_cast<size_t>(get_int(j, "top_n", 0, 0, 1 << 20));
  r.return_documents = get_bool(j, "return_documents", false);
  r.raw_scores = get_bool(j, "raw_scores", false);
  return r;
}

}  // namespace edgerag::server
