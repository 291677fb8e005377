#include "remote/pooled_llm.h"

#include <chrono>

#include "remote/prefix_key.h"
#include "runtime/scheduler.h"
#include "util/error.h"
#include "util/log.h"

namespace edgerag::remote {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One request over the pool: an attempt on a replica, and the next attempt
// elsewhere when the first fails before streaming anything.
class PoolStream final : public LlmStream {
 public:
  PoolStream(PooledLlm& llm, LlmPrompt prompt, const LlmParams& params, std::vector<uint64_t> keys)
      : llm_(llm), prompt_(std::move(prompt)), params_(params), keys_(std::move(keys)) {}
  ~PoolStream() override {
    if (!leased_) return;
    inner_->cancel();
    inner_.reset();  // joins its thread
    llm_.pool().release(replica_, ReplicaPool::Outcome::Ok, seconds_since(attempt_t0_));
  }

  // Starts an attempt on the next replica; false when none is left or the
  // retry budget (for every attempt after the first) is spent.
  bool launch() {
    ReplicaPool& pool = llm_.pool();
    for (;;) {
      if (!tried_.empty() && !pool.take_retry()) return false;
      const auto lease = pool.acquire(keys_, tried_);
      if (!lease) return false;
      tried_.push_back(replica_ = lease->replica);
      attempt_t0_ = Clock::now();
      if (RemoteLlm* m = llm_.replica(replica_)) {
        inner_ = m->stream(prompt_, params_);
        leased_ = true;
        return true;
      }
      pool.release(replica_, ReplicaPool::Outcome::Failed, 0);
      last_error_ = pool.url(replica_) + ": does not answer";
    }
  }
  const std::string& last_error() const { return last_error_; }

  Next next(std::string& piece, int wait_ms) override {
    if (!leased_) return Next::Done;
    const Next n = inner_->next(piece, wait_ms);
    if (n == Next::Piece) streamed_ = true;
    if (n != Next::Done) return n;
    using F = RemoteStream::Failure;
    const F failure = inner_->failure();
    leased_ = false;
    llm_.pool().release(replica_, failure == F::Transport ? ReplicaPool::Outcome::Failed
                                  : failure == F::Busy    ? ReplicaPool::Outcome::Busy
                                                          : ReplicaPool::Outcome::Ok,
                        seconds_since(attempt_t0_));
    result_ = inner_->result();
    const bool retryable = (failure == F::Transport || failure == F::Busy) && !streamed_ && !cancelled_;
    if (retryable) {
      last_error_ = result_.error;
      if (launch()) return Next::Waiting;  // nothing was streamed: the client sees one answer
      result_.error = "no replica could serve the request (last: " + last_error_ + ")";
    } else if (failure == F::Transport && streamed_) {
      result_.error = "the replica " + llm_.pool().url(replica_) + " failed mid-stream: " + result_.error;
    }
    result_.total_ms = seconds_since(t0_) * 1000;
    return Next::Done;
  }
  void cancel() override {
    cancelled_ = true;
    if (leased_) inner_->cancel();
  }
  const LlmResult& result() const override { return result_; }

 private:
  PooledLlm& llm_;
  const LlmPrompt prompt_;
  const LlmParams params_;
  const std::vector<uint64_t> keys_;
  const Clock::time_point t0_ = Clock::now();
  std::vector<size_t> tried_;
  size_t replica_ = 0;
  Clock::time_point attempt_t0_;
  std::unique_ptr<RemoteStream> inner_;
  bool leased_ = false, streamed_ = false;
  std::atomic<bool> cancelled_{false};
  std::string last_error_;
  LlmResult result_;
};

}  // namespace

std::unique_ptr<PooledLlm> PooledLlm::connect(const PooledOptions& opt) {
  std::unique_ptr<PooledLlm> p(new PooledLlm());
  p->opt_ = opt;
  p->pool_ = std::make_unique<ReplicaPool>(opt.urls, opt.pool);
  std::string errors;
  for (size_t i = 0; i < opt.urls.size(); ++i) {
    p->slots_.push_back(std::make_unique<Slot>());
    RemoteOptions o = opt.remote;
    o.base_url = opt.urls[i];
    try {
      p->slots_[i]->llm = RemoteLlm::connect(o);
      if (!p->primary_) p->primary_ = p->slots_[i]->llm.get();
    } catch (const Error& e) {
      log(LogLevel::Warn, "LLM backend replica {} is not up yet: {}", opt.urls[i], e.what());
      errors += std::string(errors.empty() ? "" : "; ") + e.what();
    }
  }
  EDGERAG_CHECK(p->primary_, "--llm-backend: no replica answers ({})", errors);
  return p;
}

RemoteLlm* PooledLlm::replica(size_t i) {
  Slot& s = *slots_.at(i);
  std::lock_guard lk(s.mu);
  if (!s.llm) {
    RemoteOptions o = opt_.remote;
    o.base_url = opt_.urls[i];
    o.n_ctx = primary_->n_ctx();  // the pool's budget, not this replica's
    try {
      s.llm = RemoteLlm::connect(o);
    } catch (const Error& e) {
      log(LogLevel::Warn, "LLM backend replica {}: {}", opt_.urls[i], e.what());
    }
  }
  return s.llm.get();
}

std::unique_ptr<LlmStream> PooledLlm::start(LlmPrompt prompt, const LlmParams& params) {
  std::vector<uint64_t> keys = prefix_keys(prompt, opt_.affinity_tokens);
  auto s = std::make_unique<PoolStream>(*this, std::move(prompt), params, std::move(keys));
  if (!s->launch()) throw BackendError("no replica of the LLM backend is up" +
                                     (s->last_error().empty() ? "" : " (" + s->last_error() + ")"));
  return s;
}

}  // namespace edgerag::remote
