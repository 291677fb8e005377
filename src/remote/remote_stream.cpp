#include "remote/remote_stream.h"

#include <chrono>

#include <fmt/format.h>

namespace edgerag::remote {

using nlohmann::json;

namespace {

// The sampled tokens' log-probabilities of one stream event's choice, in
// OpenAI's chat form (logprobs.content[].logprob) or completions form
// (logprobs.token_logprobs[]); anything else is ignored.
void add_logprobs(const json& choice, TokenProbability& p) {
  const auto lp = choice.find("logprobs");
  if (lp == choice.end() || !lp->is_object()) return;
  if (const auto c = lp->find("content"); c != lp->end() && c->is_array()) {
    for (const json& t : *c)
      if (t.is_object())
        if (const auto v = t.find("logprob"); v != t.end() && v->is_number()) p.add_nll(-v->get<double>());
  } else if (const auto c = lp->find("token_logprobs"); c != lp->end() && c->is_array()) {
    for (const json& v : *c)
      if (v.is_number()) p.add_nll(-v.get<double>());
  }
}

}  // namespace

RemoteStream::RemoteStream(std::string url, std::string body, HttpOptions http, bool chat) {
  thread_ = std::thread([this, url = std::move(url), body = std::move(body), http = std::move(http), chat] {
    run(url, body, http, chat);
  });
}

RemoteStream::~RemoteStream() {
  cancel();
  thread_.join();
}

LlmStream::Next RemoteStream::next(std::string& piece, int wait_ms) {
  std::unique_lock lk(mu_);
  if (!cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return done_ || !pieces_.empty(); }))
    return Next::Waiting;
  if (pieces_.empty()) return Next::Done;
  piece = std::move(pieces_.front());
  pieces_.pop_front();
  return Next::Piece;
}

void RemoteStream::run(const std::string& url, const std::string& body, const HttpOptions& http, bool chat) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto ms = [&t0] { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  LlmResult r;
  TokenProbability token_p;
  Failure failure = Failure::None;
  bool got_done = false;
  std::string event_error;
  const HttpResult h = http_sse(url, body, http, [&](const std::string& data) {
    if (data == "[DONE]") return !(got_done = true);
    const json j = parse_response(data);
    if (!j.is_object()) return true;  // not ours: skip
    if (j.contains("error")) {
      event_error = error_message(data);
      return false;
    }
    if (const auto u = j.find("usage"); u != j.end() && u->is_object()) {
      r.n_prompt = u->value("prompt_tokens", 0);
      r.n_generated = u->value("completion_tokens", 0);
      if (const auto d = u->find("prompt_tokens_details"); d != u->end() && d->is_object())
        r.n_cached = d->value("cached_tokens", 0);
    }
    const auto ch = j.find("choices");
    if (ch == j.end() || !ch->is_array() || ch->empty() || !(*ch)[0].is_object()) return true;
    const json& c = (*ch)[0];
    std::string piece;
    if (chat) {
      if (const auto d = c.find("delta"); d != c.end() && d->is_object())
        if (const auto t = d->find("content"); t != d->end() && t->is_string()) piece = t->get<std::string>();
    } else if (const auto t = c.find("text"); t != c.end() && t->is_string()) {
      piece = t->get<std::string>();
    }
    if (const auto f = c.find("finish_reason"); f != c.end() && f->is_string()) r.finish_reason = f->get<std::string>();
    add_logprobs(c, token_p);
    if (!piece.empty()) {
      if (r.ttft_ms == 0) r.ttft_ms = ms();
      std::lock_guard lk(mu_);
      pieces_.push_back(std::move(piece));
      cv_.notify_all();
    }
    return true;
  }, &abort_);
  r.total_ms = ms();
  r.token_p = token_p.mean();
  if (abort_) {
    r.finish_reason = "cancelled";
  } else if (!event_error.empty()) {
    r.finish_reason = "error", r.error = event_error, failure = Failure::Answer;
  } else if (!h.connected() || (h.status >= 200 && h.status < 300 && !h.error.empty())) {
    // Refused, timed out, or cut off mid-stream (the server died).
    r.finish_reason = "error", failure = Failure::Transport;
    r.error = fmt::format("{}: {}", url, h.error.empty() ? "no response" : h.error);
  } else if (h.status < 200 || h.status >= 300) {
    r.finish_reason = "error";
    r.error = fmt::format("{} answered {}: {}", url, h.status, error_message(h.body));
    failure = h.status == 429 || h.status == 503 ? Failure::Busy : Failure::Answer;
  } else if (!got_done && r.finish_reason.empty()) {
    r.finish_reason = "error", failure = Failure::Transport;
    r.error = url + ": the stream ended without [DONE]";
  }
  if (r.finish_reason.empty()) r.finish_reason = "stop";
  std::lock_guard lk(mu_);
  result_ = std::move(r);
  failure_ = failure;
  done_ = true;
  cv_.notify_all();
}

}  // namespace edgerag::remote
