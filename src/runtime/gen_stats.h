// Counts and timings of one finished generation, shared by the scheduler's
// result and the LlmBackend result so one copies into the other whole.
#pragma once

#include <optional>

#include "runtime/chunk_prefill.h"

namespace edgerag {

struct GenStats {
  int n_prompt = 0;
  int n_cached = 0;  // prompt tokens reused from the prefix cache
  int n_generated = 0;
  int n_drafted = 0, n_accepted = 0;  // speculative decoding: draft tokens verified / kept
  double queue_ms = 0, ttft_ms = 0, total_ms = 0;  // from submission
  ChunkPrefillStats kv_reuse;  // chunk KV reuse of the prompt (local only)
  // Geometric mean probability of the generated tokens under the model's
  // softmax (runtime/sampler.h TokenProbability); none when unknown (a remote
  // server that returned no logprobs, nothing generated).
  std::optional<double> token_p;
};

}  // namespace edgerag
