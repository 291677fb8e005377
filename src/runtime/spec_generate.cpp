#include "runtime/spec_generate.h"

#include <condition_variable>
#include <mutex>

namespace edgerag {

SpecEngine::SpecEngine(const Model& model, const Tokenizer& tok, ThreadPool* pool, int64_t kv_tokens,
                       const SpecOptions& spec, KvType kv_type)
    : tok_(tok), step_(std::make_unique<DecoderStepModel>(model, pool, kv_tokens, static_cast<int32_t>(kv_tokens), kv_type)) {
  if (spec.mode == SpecMode::Draft)
    draft_ = DraftModel::load(spec.draft_model, tok, "the model", pool, kv_tokens, static_cast<int32_t>(kv_tokens));
  // One request at a time: no prefix reuse between runs, so every run prefills alike.
  sched_ = std::make_unique<Scheduler>(*step_, SchedulerOptions{.max_running = 1, .max_queued = 1, .step_tokens = 512,
                                                                .prefill_chunk = 512, .prefix_cache = false},
                                       draft_ ? draft_->step.get() : nullptr);
}

SpecEngine::~SpecEngine() { sched_.reset(); }  // the engine thread goes before the models

SpecEngine::Run SpecEngine::generate(const std::vector<int32_t>& prompt, int max_tokens, const SamplerParams& sampling,
                                     const SpecOptions& spec, bool stop_at_eog,
                                     const std::function<bool(int32_t)>& on_token) {
  Run run;
  Sampler sampler(sampling);
  for (int32_t t : prompt) sampler.accept(t);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  GenRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.spec = spec;
  const int32_t nv = step_->n_vocab();
  r.sample = [&](std::span<const float> logits, int32_t draft) {
    const int32_t t = sampler.sample(logits.data(), nv, draft);
    sampler.accept(t);
    return t;
  };
  r.is_end = [&](int32_t t) { return stop_at_eog && tok_.is_eog(t); };
  r.on_token = [&](int32_t t) {
    run.tokens.push_back(t);
    return !on_token || on_token(t);
  };
  r.on_done = [&](const GenResult& g) {
    std::lock_guard lk(mu);
    run.result = g;
    done = true;
    cv.notify_all();
  };
  sched_->submit(std::move(r));
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return done; });
  EDGERAG_CHECK(run.result.reason != FinishReason::Error, "generation failed: {}", run.result.error);
  return run;
}

}  // namespace edgerag
