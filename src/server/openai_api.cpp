// Handlers of the OpenAI-compatible endpoints (and Cohere/Jina-style rerank).
#include <chrono>
#include <cmath>

#include <httplib.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/http_server.h"

namespace edgerag::server {

using nlohmann::json;

namespace {

constexpr int kPollMs = 100;  // how often a waiting handler checks its deadline and client

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string base64_floats(const std::vector<float>& v) {
  std::string out(4 * ((v.size() * sizeof(float) + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(v.data()),
                          static_cast<int>(v.size() * sizeof(float)));
  out.resize(n);
  return out;
}

json usage(const LlmResult& r) {
  return {{"prompt_tokens", r.n_prompt},
          {"completion_tokens", r.n_generated},
          {"total_tokens", r.n_prompt + r.n_generated},
          {"prompt_tokens_details", {{"cached_tokens", r.n_cached}}},
          {"edgerag", {{"drafted", r.n_drafted},
                       {"accepted", r.n_accepted},
                       {"acceptance_rate", r.n_drafted ? static_cast<double>(r.n_accepted) / r.n_drafted : 0.0}}}};
}

}  // namespace

std::shared_ptr<LlmStream> Server::start_job(LlmPrompt prompt, const LlmParams& params, const char* param,
                                             LlmBackend* on) {
  LlmBackend& llm = on ? *on : *models_.llm;
  if (params.spec && params.spec->mode == SpecMode::Draft && !llm.has_draft_model())
    bad_param("edgerag.speculative", "this server has no draft model (start it with --speculative draft:MODEL)");
  // With the tokenizer known here the prompt is checked as ids; otherwise the
  // remote server checks it and its refusal comes back as the request's error.
  // Chat messages stay messages: a remote server applies the model's own template.
  if (const Tokenizer* tok = llm.tokenizer()) {
    if (prompt.ids.empty())
      prompt.ids = prompt.messages.empty() ? llm.tokenize(prompt.text)
                                           : llm.tokenize(render_chat(llm.chat_format(), prompt.messages));
    for (int32_t t : prompt.ids)
      if (t < 0 || t >= tok->n_vocab()) bad_param(param, "token id {} is outside the vocabulary", t);
    if (static_cast<int64_t>(prompt.ids.size()) >= llm.n_ctx())
      throw ApiError(400, "invalid_request_error",
                     fmt::format("the prompt has {} tokens; this model's context is {} tokens", prompt.ids.size(),
                                 llm.n_ctx()),
                     param, "context_length_exceeded");
  }
  std::shared_ptr<LlmStream> job = llm.start(std::move(prompt), params);
  metrics_.add("requests_admitted", 1);
  return job;
}

void Server::record_job(const LlmResult& jr) {
  metrics_.observe_seconds("ttft", jr.ttft_ms / 1000);
  metrics_.observe_seconds("stage", jr.queue_ms / 1000, "queue");
  metrics_.observe_seconds("stage", (jr.ttft_ms - jr.queue_ms) / 1000, "prefill");
  metrics_.observe_seconds("stage", (jr.total_ms - jr.ttft_ms) / 1000, "decode");
  metrics_.add("completion_tokens", jr.n_generated);
  metrics_.add("prompt_tokens", jr.n_prompt);
  metrics_.add("prompt_tokens_cached", jr.n_cached);
  if (jr.finish_reason == "cancelled") metrics_.add("requests_cancelled", 1);
}

std::string Server::wait_text(LlmStream& job, Clock::time_point deadline) {
  std::string text, piece;
  bool cancelled = false;
  for (;;) {
    auto n = job.next(piece, kPollMs);
    if (n == LlmStream::Next::Done) break;
    if (n == LlmStream::Next::Piece) text += piece;
    if (!cancelled && Clock::now() > deadline) {
      job.cancel();
      cancelled = true;
    }
  }
  const LlmResult& jr = job.result();
  record_job(jr);
  if (jr.finish_reason == "error") throw ApiError(500, "server_error", "generation failed: " + jr.error);
  if (jr.finish_reason == "cancelled")
    throw ApiError(504, "server_error", fmt::format("generation exceeded {} s", opt_.request_timeout_s), "", "timeout");
  return text;
}

namespace {

// Counts a streaming response as an open request until httplib has sent it
// and drops the provider (the handler itself returned long before).
struct OpenRequest {
  std::atomic<int>& n;
  explicit OpenRequest(std::atomic<int>& n) : n(n) { ++n; }
  ~OpenRequest() { --n; }
  OpenRequest(const OpenRequest&) = delete;
  OpenRequest& operator=(const OpenRequest&) = delete;
};

}  // namespace

void Server::stream_job(httplib::Response& res, std::shared_ptr<LlmStream> job, Clock::time_point deadline,
                        std::function<void(const std::string&, const Send&)> on_piece,
                        std::function<void(const LlmResult&, const Send&)> on_done) {
  auto open = std::make_shared<OpenRequest>(open_requests_);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [=, this](size_t, httplib::DataSink& sink) {
        bool ok = true, cancelled = false;
        const Send send = [&](const json& j) {
          std::string s = "data: " + dump(j) + "\n\n";
          ok = ok && sink.write(s.data(), s.size());
          if (!ok) job->cancel();  // the client went away: free its slot now
        };
        std::string piece;
        for (;;) {
          auto n = job->next(piece, kPollMs);
          if (n == LlmStream::Next::Done) break;
          if (n == LlmStream::Next::Piece) on_piece(piece, send);
          else if (!sink.is_writable()) job->cancel();
          if (!cancelled && Clock::now() > deadline) {
            job->cancel();
            cancelled = true;
          }
        }
        const LlmResult& jr = job->result();
        record_job(jr);
        if (jr.finish_reason == "error") send(error_body("generation failed: " + jr.error, "server_error"));
        else on_done(jr, send);
        static const std::string done = "data: [DONE]\n\n";
        if (ok) ok = sink.write(done.data(), done.size());
        if (ok) sink.done();
        return ok;
      },
      [job, open](bool) { job->cancel(); });  // no-op once finished; ends it if the stream never ran
}

void Server::handle_generation(const httplib::Request& req, httplib::Response& res, bool chat) {
  const json body = parse_json_body(req.body);
  GenerationRequest r = chat ? parse_chat_request(body, opt_.limits) : parse_completion_request(body, opt_.limits);
  check_model(r.model, models_.llm ? models_.llm->id() : "", "language");
  LlmBackend& llm = *models_.llm;
  if (const Tokenizer* tok = llm.tokenizer())
    for (int32_t t : r.logit_bias_ids)
      if (t >= tok->n_vocab()) bad_param("logit_bias", "token id {} is outside the vocabulary", t);
  LlmPrompt prompt;
  if (chat) prompt.messages = std::move(r.messages);
  else if (!r.prompt_ids.empty()) prompt.ids = std::move(r.prompt_ids);
  else prompt.text = std::move(r.prompt);
  std::shared_ptr<LlmStream> job = start_job(std::move(prompt), r.job, chat ? "messages" : "prompt");
  const auto until = deadline();

  const std::string id = fmt::format("{}-{:x}", chat ? "chatcmpl" : "cmpl", next_id_++);
  const int64_t created = now_s();
  const std::string model = llm.id();
  // One response object (or stream chunk) around a piece of text.
  auto envelope = [=](const std::string& text, const json& finish, bool delta, bool first) {
    json choice = {{"index", 0}, {"finish_reason", finish}};
    if (!chat) {
      choice["text"] = text;
      choice["logprobs"] = nullptr;
    } else if (delta) {
      choice["delta"] = finish.is_null() ? json{{"content", text}} : json::object();
      if (first) choice["delta"]["role"] = "assistant";
    } else {
      choice["message"] = {{"role", "assistant"}, {"content", text}};
    }
    const char* object = chat ? (delta ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    return json{{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"choices", {choice}}};
  };

  if (!r.stream) {
    std::string text = wait_text(*job, until);
    json out = envelope(text, job->result().finish_reason, false, false);
    out["usage"] = usage(job->result());
    res.set_content(dump(out), "application/json");
    return;
  }

  auto first = std::make_shared<bool>(true);  // the stream's first chunk carries the role
  stream_job(
      res, job, until,
      [=](const std::string& piece, const Send& send) {
        send(envelope(piece, nullptr, true, *first));
        *first = false;
      },
      [=, include_usage = r.include_usage](const LlmResult& jr, const Send& send) {
        if (chat && *first) send(envelope("", nullptr, true, true));
        // A timeout ends the stream like the token limit: the client keeps what it got.
        send(envelope("", jr.finish_reason == "cancelled" ? "length" : jr.finish_reason, true, false));
        if (include_usage) {
          json u = envelope("", nullptr, true, false);
          u["choices"] = json::array();
          u["usage"] = usage(jr);
          send(u);
        }
      });
}

void Server::handle_embeddings(const httplib::Request& req, httplib::Response& res) {
  const EmbeddingRequest r = parse_embedding_request(parse_json_body(req.body), opt_.limits);
  check_model(r.model, models_.embed_id, "embedding");
  size_t n_tokens = 0;
  std::vector<std::vector<float>> vecs;
  if (models_.embed_backend) {
    vecs = models_.embed_backend->embed_counted(r.input, &n_tokens);
  } else {
    vecs = models_.embed->embed(r.input);
    for (const auto& text : r.input) n_tokens += models_.embed->tokenize(text).size();
  }
  json data = json::array();
  for (size_t i = 0; i < vecs.size(); ++i) {
    data.push_back({{"object", "embedding"}, {"index", i},
                    {"embedding", r.base64 ? json(base64_floats(vecs[i])) : json(vecs[i])}});
  }
  json out = {{"object", "list"}, {"data", data}, {"model", models_.embed_id},
              {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}};
  res.set_content(dump(out), "application/json");
}

void Server::handle_rerank(const httplib::Request& req, httplib::Response& res) {
  const RerankRequest r = parse_rerank_request(parse_json_body(req.body), opt_.limits);
  check_model(r.model, models_.rerank_id, "rerank");
  std::vector<float> raw = models_.rerank_backend ? models_.rerank_backend->score(r.query, r.documents)
                                                  : models_.rerank->rerank(r.query, r.documents);
  std::vector<size_t> order(raw.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return raw[a] > raw[b]; });
  if (r.top_n > 0 && r.top_n < order.size()) order.resize(r.top_n);
  json results = json::array();
  for (size_t i : order) {
    // Cohere/Jina report a 0..1 relevance: the logistic of the cross-encoder logit (TEI's raw_scores: the logit).
    json x = {{"index", i}, {"relevance_score", r.raw_scores ? double(raw[i]) : 1.0 / (1.0 + std::exp(-double(raw[i])))}};
    if (r.return_documents) x["document"] = {{"text", r.documents[i]}};
    results.push_back(x);
  }
  json out = {{"object", "list"}, {"model", models_.rerank_id}, {"results", results}};
  res.set_content(dump(out), "application/json");
}

}  // namespace edgerag::server
