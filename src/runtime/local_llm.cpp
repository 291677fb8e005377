#include "runtime/local_llm.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>

#include "runtime/generator.h"
#include "runtime/token_policy.h"

namespace edgerag {

namespace {

// Shared by the stream (consumer thread) and the scheduler callbacks (engine thread).
struct JobState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pieces;
  bool done = false;
  LlmResult result;
  TokenPolicy policy;
  Sampler sampler;
  JobState(const Tokenizer& tok, std::vector<std::string> stop, const SamplerParams& sp)
      : policy(tok, std::move(stop)), sampler(sp) {}
  void push(std::string s) {
    if (s.empty()) return;
    std::lock_guard lk(mu);
    pieces.push_back(std::move(s));
    cv.notify_all();
  }
};

class LocalStream final : public LlmStream {
 public:
  LocalStream(std::shared_ptr<JobState> st, Scheduler& sched, uint64_t id) : st_(std::move(st)), sched_(sched), id_(id) {}
  ~LocalStream() override {
    bool done;
    {
      std::lock_guard lk(st_->mu);
      done = st_->done;
    }
    // Outside the lock: cancelling a queued request runs on_done on this thread.
    if (!done) sched_.cancel(id_);
  }
  Next next(std::string& piece, int wait_ms) override {
    std::unique_lock lk(st_->mu);
    if (!st_->cv.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return st_->done || !st_->pieces.empty(); }))
      return Next::Waiting;
    if (st_->pieces.empty()) return Next::Done;
    piece = std::move(st_->pieces.front());
    st_->pieces.pop_front();
    return Next::Piece;
  }
  void cancel() override { sched_.cancel(id_); }
  const LlmResult& result() const override { return st_->result; }

 private:
  std::shared_ptr<JobState> st_;
  Scheduler& sched_;
  uint64_t id_;
};

}  // namespace

std::unique_ptr<LocalLlm> LocalLlm::load(const std::string& path, const LlmOptions& opt) {
  std::unique_ptr<LocalLlm> s(new LocalLlm());
  s->id_ = std::filesystem::path(path).stem().string();
  s->model_ = Model::load(path);
  s->tok_ = Tokenizer::from_gguf(s->model_->gguf());
  s->format_ = detect_chat_format(s->model_->gguf());
  s->pool_ = std::make_unique<ThreadPool>(opt.n_threads > 0 ? opt.n_threads : default_thread_count());
  // Unset, a sequence may be as long as the training context or the pool, whichever is shorter.
  const int64_t cap = opt.kv_tokens > 0 ? opt.kv_tokens : Generator::kDefaultMaxCtx;
  const int64_t n_ctx = opt.n_ctx > 0 ? opt.n_ctx : std::min<int64_t>(s->model_->hparams().n_ctx_train, cap);
  const int64_t kv_tokens = opt.kv_tokens > 0 ? opt.kv_tokens : 2 * n_ctx;
  auto step = std::make_unique<DecoderStepModel>(*s->model_, s->pool_.get(), kv_tokens, static_cast<int32_t>(n_ctx),
                                                 opt.kv_type);
  s->kv_store_ = opt.kv_store ? opt.kv_store : std::make_shared<ChunkKvStore>(ChunkKvStoreOptions{});
  step->set_chunk_store(s->kv_store_.get());
  s->step_ = std::move(step);
  if (opt.wrap_step) s->step_ = opt.wrap_step(std::move(s->step_));
  if (opt.spec.mode == SpecMode::Draft)
    s->draft_ = DraftModel::load(opt.spec.draft_model, *s->tok_, path, s->pool_.get(), kv_tokens, s->step_->n_ctx());
  s->spec_ = opt.spec;
  s->sched_ = std::make_unique<Scheduler>(*s->step_, opt.scheduler, s->draft_ ? s->draft_->step.get() : nullptr);
  return s;
}

LocalLlm::~LocalLlm() { sched_.reset(); }  // stop the engine before the model goes

std::vector<int32_t> LocalLlm::tokenize(const std::string& text) const { return tok_->encode(text, true, false); }

std::vector<int32_t> LocalLlm::tokenize(const std::vector<PromptPart>& parts) const {
  return tok_->encode_parts(parts, true);
}

std::unique_ptr<LlmStream> LocalLlm::start(LlmPrompt prompt, const LlmParams& params) {
  // Ids given with messages are their rendering already.
  std::vector<int32_t> ids = !prompt.ids.empty()      ? std::move(prompt.ids)
                             : !prompt.messages.empty() ? tokenize(render_chat(format_, prompt.messages, true))
                                                        : tokenize(prompt.text);
  auto st = std::make_shared<JobState>(*tok_, params.stop, params.sampling);
  for (int32_t t : ids) st->sampler.accept(t);
  GenRequest r;
  r.prompt = std::move(ids);
  r.max_tokens = params.max_tokens;
  r.spec = params.spec.value_or(spec_);
  r.chunks = params.chunks;
  r.kv_reuse = params.kv_reuse;
  const int32_t nv = step_->n_vocab();
  r.sample = [st, nv](std::span<const float> logits, int32_t draft) {
    int32_t t = st->sampler.sample(logits.data(), nv, draft);
    st->sampler.accept(t);
    return t;
  };
  r.is_end = [st](int32_t t) { return st->policy.is_end(t); };
  r.on_token = [st](int32_t t) {
    st->push(st->policy.push(t));
    return !st->policy.stopped();
  };
  r.on_done = [st](const GenResult& g) {
    st->push(st->policy.flush());
    std::lock_guard lk(st->mu);
    LlmResult& j = st->result;
    // A matched stop string ends the request through on_token: that is "stop".
    j.finish_reason = finish_reason_name(g.reason);
    j.error = g.error;
    static_cast<GenStats&>(j) = g;
    st->done = true;
    st->cv.notify_all();
  };
  uint64_t id = sched_->submit(std::move(r));
  return std::make_unique<LocalStream>(st, *sched_, id);
}

}  // namespace edgerag
