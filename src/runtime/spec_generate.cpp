#include "runtime/spec_generate.h"

#include "runtime/token_policy.h"

#include <algorithm>
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

GenerationResult SpecEngine::generate_text(const std::vector<int32_t>& prompt, const GenerationParams& params,
                                           const SpecOptions& spec,
                                           const std::function<void(std::string_view)>& on_text) {
  TokenPolicy policy(tok_, params.stop, params.stop_at_eog);
  auto run = generate(prompt, params.max_tokens, params.sampling, spec, params.stop_at_eog, [&](int32_t t) {
    const std::string text = policy.push(t);
    if (on_text && !text.empty()) on_text(text);
    return !policy.stopped();
  });
  if (const std::string tail = policy.flush(); on_text && !tail.empty()) on_text(tail);
  GenerationResult res;
  res.prompt_ids = prompt;
  res.tokens = std::move(run.tokens);
  res.text = policy.text();
  const GenResult& g = run.result;
  res.stop_reason = policy.stopped() ? "stop" : g.reason == FinishReason::Length ? "length" : "eog";
  res.n_drafted = g.n_drafted;
  res.n_accepted = g.n_accepted;
  res.token_p = g.token_p;
  auto& t = res.timings;
  t.n_prompt = static_cast<int32_t>(prompt.size());
  t.prompt_ms = t.ttft_ms = g.ttft_ms;  // prefill and the first sample are one scheduler step
  t.decode_ms = g.total_ms - g.ttft_ms;
  t.n_decode = std::max(0, g.n_generated - 1);  // tokens decoded after the first (fewer forwards)
  t.prefill_tok_s = t.prompt_ms > 0 ? t.n_prompt * 1000.0 / t.prompt_ms : 0;
  t.decode_tok_s = t.decode_ms > 0 ? t.n_decode * 1000.0 / t.decode_ms : 0;
  return res;
}

}  // namespace edgerag
