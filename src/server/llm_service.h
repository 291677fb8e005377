// The served decoder: model, tokenizer and chat format plus the continuous
// batching scheduler over one shared KV pool. start() queues a request and
// returns a job whose text pieces the HTTP thread pulls; the engine thread
// never waits on a client's socket. Dropping an unfinished job cancels it.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/chat_template.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"
#include "runtime/scheduler_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace edgerag::server {

struct LlmOptions {
  int64_t kv_tokens = 16384;  // shared KV pool of all requests
  int32_t n_ctx = 0;          // per sequence; 0 = the model's training context
  KvType kv_type = DType::F32;  // how the pool stores K/V (f16, q8_0, KIVI int8/int4, ...)
  int n_threads = 0;          // 0 = default_thread_count()
  SchedulerOptions scheduler;
  // Speculative decoding for requests that do not choose; SpecMode::Draft loads
  // the draft model (same vocabulary) next to the model.
  SpecOptions spec;
  // Wraps the decoder's step model before the scheduler gets it (tests slow
  // it down to exercise timeouts and overload deterministically).
  std::function<std::unique_ptr<StepModel>(std::unique_ptr<StepModel>)> wrap_step = {};
};

struct JobParams {
  int max_tokens = 256;
  SamplerParams sampling;
  std::vector<std::string> stop;
  std::optional<SpecOptions> spec;  // none: the service's LlmOptions::spec
};

struct JobResult {
  std::string finish_reason;  // "stop" | "length" | "cancelled" | "error"
  std::string error;
  int n_prompt = 0, n_cached = 0, n_generated = 0;
  int n_drafted = 0, n_accepted = 0;  // speculative decoding
  double queue_ms = 0, ttft_ms = 0, total_ms = 0;
};

class Job {
 public:
  struct State;
  Job(std::shared_ptr<State> st, Scheduler& sched, uint64_t id) : st_(std::move(st)), sched_(sched), id_(id) {}
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  enum class Next { Piece, Waiting, Done };
  // Waits up to `wait_ms` for the next piece of text; Done once the request
  // has finished and every piece was delivered (then result() is set).
  Next next(std::string& piece, int wait_ms);
  void cancel();
  const JobResult& result() const;  // valid once next() returned Done

 private:
  std::shared_ptr<State> st_;
  Scheduler& sched_;
  uint64_t id_;
};

class LlmService {
 public:
  static std::unique_ptr<LlmService> load(const std::string& path, const LlmOptions& opt);
  ~LlmService();

  const std::string& id() const { return id_; }  // file stem: the API's model name
  const Tokenizer& tokenizer() const { return *tok_; }
  int32_t n_ctx() const { return step_->n_ctx(); }
  Scheduler& scheduler() { return *sched_; }
  bool has_draft_model() const { return draft_ != nullptr; }
  ChatFormat chat_format() const { return format_; }

  // The chat template's control tokens apart from the messages' text.
  std::vector<PromptPart> render_chat(const std::vector<ChatMessage>& messages) const;
  // BOS as the model asks. Text is plain text: "<|im_end|>" in a prompt or a
  // message stays text; only the chat template's markers become control tokens.
  std::vector<int32_t> tokenize(const std::string& prompt) const;
  std::vector<int32_t> tokenize(const std::vector<PromptPart>& chat_prompt) const;
  // Throws Overloaded when the queue is full, Error for an impossible request.
  std::unique_ptr<Job> start(std::vector<int32_t> prompt, const JobParams& params);

 private:
  LlmService() = default;
  std::string id_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  ChatFormat format_ = ChatFormat::Plain;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<StepModel> step_;
  std::unique_ptr<DraftModel> draft_;
  SpecOptions spec_;
  std::unique_ptr<Scheduler> sched_;
};

}  // namespace edgerag::server
