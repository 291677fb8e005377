// The local LlmBackend: model, tokenizer and chat format plus the continuous
// batching scheduler over one shared KV pool. start() queues a request and
// returns a stream whose text pieces the caller pulls; the engine thread never
// waits on a consumer. Dropping an unfinished stream cancels its request.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/chat_template.h"
#include "runtime/llm_backend.h"
#include "runtime/scheduler.h"
#include "runtime/scheduler_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace edgerag {

struct LlmOptions {
  // Shared KV pool of all requests. 0: one request at a time (ask): room for
  // one sequence of n_ctx tokens and as many again to compute its chunks' KV.
  int64_t kv_tokens = 16384;
  // Per sequence; 0 = the model's training context, at most kv_tokens (at most
  // Generator::kDefaultMaxCtx with kv_tokens 0).
  int32_t n_ctx = 0;
  KvType kv_type = default_kv_type();  // how the pool stores K/V (f16, q8_0, KIVI int8/int4, ...)
  int n_threads = 0;          // 0 = default_thread_count()
  SchedulerOptions scheduler;
  // Speculative decoding for requests that do not choose; SpecMode::Draft loads
  // the draft model (same vocabulary) next to the model.
  SpecOptions spec;
  // Wraps the decoder's step model before the scheduler gets it (tests slow
  // it down to exercise timeouts and overload deterministically).
  std::function<std::unique_ptr<StepModel>(std::unique_ptr<StepModel>)> wrap_step = {};
  // Chunk KV of RAG prompts (requests with a kv_reuse mode); null: a RAM store of 1 GiB.
  std::shared_ptr<ChunkKvStore> kv_store = {};
};

class LocalLlm final : public LlmBackend {
 public:
  static std::unique_ptr<LocalLlm> load(const std::string& path, const LlmOptions& opt);
  ~LocalLlm() override;

  const std::string& id() const override { return id_; }  // file stem
  int32_t n_ctx() const override { return step_->n_ctx(); }
  ChatFormat chat_format() const override { return format_; }
  const Tokenizer* tokenizer() const override { return tok_.get(); }
  // Text is plain text: "<|im_end|>" in a prompt or a message stays text;
  // only the chat template's markers become control tokens.
  std::vector<int32_t> tokenize(const std::vector<PromptPart>& parts) const override;
  std::vector<int32_t> tokenize(const std::string& text) const override;
  bool has_draft_model() const override { return draft_ != nullptr; }
  // Token ids must be in the vocabulary (the caller checks; Error otherwise).
  std::unique_ptr<LlmStream> start(LlmPrompt prompt, const LlmParams& params) override;

  Scheduler& scheduler() { return *sched_; }

 private:
  LocalLlm() = default;
  std::string id_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  ChatFormat format_ = ChatFormat::Plain;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<StepModel> step_;
  std::unique_ptr<DraftModel> draft_;
  SpecOptions spec_;
  std::unique_ptr<Scheduler> sched_;
  std::shared_ptr<ChunkKvStore> kv_store_;
};

}  // namespace edgerag
