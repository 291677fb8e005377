// One request at a time through the batching scheduler with a draft source:
// the speculative path of `edgerag generate` and of `bench spec` (whose
// baseline runs the same path with speculation off, so only drafting differs).
#pragma once
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "runtime/scheduler_decoder.h"

namespace edgerag {

// A decoder behind a scheduler, with the draft model when spec asks for one.
class SpecEngine {
 public:
  // kv_tokens: the KV pool (and the longest sequence) of the target and the draft.
  SpecEngine(const Model& model, const Tokenizer& tok, ThreadPool* pool, int64_t kv_tokens,
             const SpecOptions& spec, KvType kv_type = default_kv_type());
  ~SpecEngine();

  struct Run {
    std::vector<int32_t> tokens;  // generated, end-of-generation token excluded
    GenResult result;
  };
  // Greedy or sampled generation of at most max_tokens; stops at an
  // end-of-generation token (when stop_at_eog) or when on_token returns false.
  Run generate(const std::vector<int32_t>& prompt, int max_tokens, const SamplerParams& sampling,
               const SpecOptions& spec, bool stop_at_eog = true,
               const std::function<bool(int32_t)>& on_token = {});
  // The same run shaped like Generator's result (stop strings, streamed text,
  // timings; `tokens` without the end-of-generation token), plus the drafts.
  GenerationResult generate_text(const std::vector<int32_t>& prompt, const GenerationParams& params,
                                 const SpecOptions& spec, const std::function<void(std::string_view)>& on_text = {});

 private:
  const Tokenizer& tok_;
  std::unique_ptr<DecoderStepModel> step_;
  std::unique_ptr<DraftModel> draft_;
  std::unique_ptr<Scheduler> sched_;
};

}  // namespace edgerag
