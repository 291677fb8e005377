#include "server/llm_service.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>

#include "runtime/scheduler_decoder.h"
#include "runtime/text_stream.h"

namespace edgerag::server {

// Shared by the job (HTTP thread) and the scheduler callbacks (engine thread).
struct Job::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pieces;
  bool done = false;
  JobResult result;
  TextStream stream;
  Sampler sampler;
  State(std::vector<std::string> stop, const SamplerParams& sp) : stream(std::move(stop)), sampler(sp) {}
  void push(std::string s) {
    if (s.empty()) return;
    std::lock_guard lk(mu);
    pieces.push_back(std::move(s));
    cv.notify_all();
  }
};

Job::~Job() {
  bool done;
  {
    std::lock_guard lk(st_->mu);
    done = st_->done;
  }
  // Outside the lock: cancelling a queued request runs on_done on this thread.
  if (!done) sched_.cancel(id_);
}

void Job::cancel() { sched_.cancel(id_); }

Job::Next Job::next(std::string& piece, int wait_ms) {
  std::unique_lock lk(st_->mu);
  if (!st_->cv.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return st_->done || !st_->pieces.empty(); }))
    return Next::Waiting;
  if (st_->pieces.empty()) return Next::Done;
  piece = std::move(st_->pieces.front());
  st_->pieces.pop_front();
  return Next::Piece;
}

const JobResult& Job::result() const { return st_->result; }

std::unique_ptr<LlmService> LlmService::load(const std::string& path, const LlmOptions& opt) {
  std::unique_ptr<LlmService> s(new LlmService());
  s->id_ = std::filesystem::path(path).stem().string();
  s->model_ = Model::load(path);
  s->tok_ = Tokenizer::from_gguf(s->model_->gguf());
  s->format_ = detect_chat_format(s->model_->gguf());
  s->pool_ = std::make_unique<ThreadPool>(opt.n_threads > 0 ? opt.n_threads : default_thread_count());
  s->step_ = std::make_unique<DecoderStepModel>(*s->model_, s->pool_.get(), opt.kv_tokens, opt.n_ctx, opt.kv_type);
  if (opt.wrap_step) s->step_ = opt.wrap_step(std::move(s->step_));
  if (opt.spec.mode == SpecMode::Draft)
    s->draft_ = DraftModel::load(opt.spec.draft_model, *s->tok_, path, s->pool_.get(), opt.kv_tokens, s->step_->n_ctx());
  s->spec_ = opt.spec;
  s->sched_ = std::make_unique<Scheduler>(*s->step_, opt.scheduler, s->draft_ ? s->draft_->step.get() : nullptr);
  return s;
}

LlmService::~LlmService() { sched_.reset(); }  // stop the engine before the model goes

std::vector<PromptPart> LlmService::render_chat(const std::vector<ChatMessage>& messages) const {
  return edgerag::render_chat(format_, messages, true);
}

std::vector<int32_t> LlmService::tokenize(const std::string& prompt) const { return tok_->encode(prompt, true, false); }

std::vector<int32_t> LlmService::tokenize(const std::vector<PromptPart>& chat_prompt) const {
  return tok_->encode_parts(chat_prompt, true);
}

std::unique_ptr<Job> LlmService::start(std::vector<int32_t> prompt, const JobParams& params) {
  auto st = std::make_shared<Job::State>(params.stop, params.sampling);
  for (int32_t t : prompt) st->sampler.accept(t);
  GenRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = params.max_tokens;
  r.spec = params.spec.value_or(spec_);
  const int32_t nv = step_->n_vocab();
  r.sample = [st, nv](std::span<const float> logits, int32_t draft) {
    int32_t t = st->sampler.sample(logits.data(), nv, draft);
    st->sampler.accept(t);
    return t;
  };
  const Tokenizer* tok = tok_.get();
  r.is_end = [tok](int32_t t) { return tok->is_eog(t); };
  r.on_token = [st, tok](int32_t t) {
    // A generated control token is no text (as in Generator).
    if (!tok->is_control(t)) st->push(st->stream.push(tok->token_to_piece(t)));
    return !st->stream.stopped();
  };
  r.on_done = [st](const GenResult& g) {
    if (!st->stream.stopped()) st->push(st->stream.flush());
    std::lock_guard lk(st->mu);
    JobResult& j = st->result;
    // A matched stop string ends the request through on_token: that is "stop".
    j.finish_reason = finish_reason_name(g.reason);
    j.error = g.error;
    j.n_prompt = g.n_prompt;
    j.n_cached = g.n_cached;
    j.n_generated = g.n_generated;
    j.n_drafted = g.n_drafted;
    j.n_accepted = g.n_accepted;
    j.queue_ms = g.queue_ms;
    j.ttft_ms = g.ttft_ms;
    j.total_ms = g.total_ms;
    st->done = true;
    st->cv.notify_all();
  };
  uint64_t id = sched_->submit(std::move(r));
  return std::make_unique<Job>(st, *sched_, id);
}

}  // namespace edgerag::server
