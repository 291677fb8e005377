#include "remote/remote_llm.h"

#include <cmath>

#include "util/error.h"
#include "util/log.h"

namespace edgerag::remote {

using nlohmann::json;

const char* token_count_name(TokenCount c) {
  switch (c) {
    case TokenCount::Local: return "local";
    case TokenCount::Server: return "server";
    case TokenCount::Estimate: return "estimate";
  }
  return "?";
}

int estimate_tokens(size_t bytes) { return static_cast<int>(std::ceil(bytes / 3.0 * 1.15)) + 4; }

namespace {

json get_json(const std::string& url, const std::string& body, const HttpOptions& opt) {
  const HttpResult r = http_json(url, body, opt);
  if (r.status < 200 || r.status >= 300) return json();
  return parse_response(r.body);
}

}  // namespace

std::string RemoteLlm::root() const {
  std::string r = opt_.base_url;
  while (!r.empty() && r.back() == '/') r.pop_back();
  if (r.size() >= 3 && r.compare(r.size() - 3, 3, "/v1") == 0) r.resize(r.size() - 3);
  return r;
}

std::unique_ptr<RemoteLlm> RemoteLlm::connect(const RemoteOptions& opt) {
  EDGERAG_CHECK(opt.base_url.rfind("http://", 0) == 0 || opt.base_url.rfind("https://", 0) == 0,
                "--llm-backend {}: expected an http(s) URL such as http://host:8000/v1", opt.base_url);
  std::unique_ptr<RemoteLlm> s(new RemoteLlm());
  s->opt_ = opt;
  while (!s->opt_.base_url.empty() && s->opt_.base_url.back() == '/') s->opt_.base_url.pop_back();
  HttpOptions quick = opt.http;
  quick.timeout_ms = std::min<long>(quick.timeout_ms, 10000);
  const HttpResult models = http_json(s->opt_.base_url + "/models", "", quick);
  EDGERAG_CHECK(models.status >= 200 && models.status < 300, "{}/models: {}", s->opt_.base_url,
                models.connected() ? fmt::format("HTTP {}", models.status) : models.error);
  const json mj = parse_response(models.body);
  json first;
  if (mj.is_object() && mj.contains("data") && mj["data"].is_array() && !mj["data"].empty()) first = mj["data"][0];
  s->model_ = opt.model;
  if (s->model_.empty() && first.is_object() && first.contains("id") && first["id"].is_string())
    s->model_ = first["id"].get<std::string>();
  EDGERAG_CHECK(!s->model_.empty(), "{}/models lists no model", s->opt_.base_url);
  s->n_ctx_ = opt.n_ctx;
  if (s->n_ctx_ <= 0) {
    const json props = get_json(s->root() + "/props", "", quick);
    if (props.is_object() && props.contains("default_generation_settings") &&
        props["default_generation_settings"].is_object())
      s->n_ctx_ = props["default_generation_settings"].value("n_ctx", 0);
    if (s->n_ctx_ <= 0 && first.is_object()) s->n_ctx_ = first.value("max_model_len", 0);
    if (s->n_ctx_ <= 0) s->n_ctx_ = 4096;
  }
  if (!opt.tokenizer.empty()) {
    s->gguf_ = GgufFile::open(opt.tokenizer);
    s->tok_ = Tokenizer::from_gguf(*s->gguf_);
    s->format_ = detect_chat_format(*s->gguf_);
    s->count_ = TokenCount::Local;
  } else {
    const json t = get_json(s->root() + "/tokenize", json{{"content", "a"}}.dump(), quick);
    if (t.is_object() && t.contains("tokens") && t["tokens"].is_array()) s->count_ = TokenCount::Server;
  }
  log(LogLevel::Info, "LLM backend {} model '{}' (context {}, token counts: {})", s->opt_.base_url, s->model_, s->n_ctx_,
      token_count_name(s->count_));
  return s;
}

std::vector<int32_t> RemoteLlm::tokenize(const std::string& text) const {
  if (tok_) return tok_->encode(text, true, false);
  if (count_ == TokenCount::Server) {
    const json t = get_json(root() + "/tokenize", json{{"content", text}, {"add_special", true}}.dump(), opt_.http);
    EDGERAG_CHECK(t.is_object() && t.contains("tokens") && t["tokens"].is_array(), "{}/tokenize failed", root());
    std::vector<int32_t> ids;
    for (const auto& v : t["tokens"]) ids.push_back(v.is_number_integer() ? v.get<int32_t>() : 0);
    return ids;
  }
  return std::vector<int32_t>(static_cast<size_t>(estimate_tokens(text.size())), 0);
}

std::vector<int32_t> RemoteLlm::tokenize(const std::vector<PromptPart>& parts) const {
  if (tok_) return tok_->encode_parts(parts, true);
  return tokenize(prompt_text(parts));
}

std::unique_ptr<LlmStream> RemoteLlm::start(LlmPrompt prompt, const LlmParams& params) {
  return stream(std::move(prompt), params);
}

std::unique_ptr<RemoteStream> RemoteLlm::stream(LlmPrompt prompt, const LlmParams& params) const {
  const bool chat = !prompt.messages.empty();
  json body = {{"model", model_},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}},
               {"max_tokens", params.max_tokens},
               {"temperature", params.sampling.temperature},
               {"top_p", params.sampling.top_p},
               {"min_p", params.sampling.min_p}};
  // The sampled tokens' log-probabilities (an answer's confidence): chat takes
  // a flag, completions the number of alternatives besides the sampled token.
  body["logprobs"] = chat ? json(true) : json(1);
  if (params.sampling.top_k > 0) body["top_k"] = params.sampling.top_k;
  if (params.sampling.seed != 0) body["seed"] = params.sampling.seed;
  if (!params.stop.empty()) body["stop"] = params.stop;
  if (chat) {
    json msgs = json::array();
    for (const auto& m : prompt.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    body["messages"] = std::move(msgs);
  } else if (!prompt.ids.empty() && count_ != TokenCount::Estimate) {
    body["prompt"] = prompt.ids;  // exact ids of the remote model's tokenizer
  } else {
    EDGERAG_CHECK(!prompt.text.empty(), "remote generation: the prompt has no text");
    body["prompt"] = prompt.text;
  }
  return std::make_unique<RemoteStream>(opt_.base_url + (chat ? "/chat/completions" : "/completions"),
                                        body.dump(-1, ' ', false, json::error_handler_t::replace), opt_.http, chat);
}

}  // namespace edgerag::remote
