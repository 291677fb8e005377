// Speed, memory and energy of one model for the quantization study: time to
// first token, prefill and decode throughput, decode throughput at several
// batch sizes (B sequences decoding together), peak RSS and energy per token.
#pragma once
#include <string>
#include <vector>

#include "eval/energy.h"
#include "model/model.h"

namespace edgerag {

struct SpeedOptions {
  int n_prompt = 128;
  int n_gen = 32;
  std::vector<int> batches = {1, 2, 4, 8};
  double tdp_watts = 0;
};

struct SpeedResult {
  double load_ms = 0;
  double ttft_ms = 0;          // prefill of n_prompt tokens + first token's logits
  double prefill_tok_s = 0;
  double decode_tok_s = 0;     // batch 1
  double energy_j_per_token = 0;  // decode, batch 1
  std::string energy_method;
  double peak_rss_mb = 0;      // this model's load + runs (peak reset before loading)
  std::vector<std::pair<int, double>> batch_tok_s;  // (B, generated tokens per second)
};

// Loads `path` and measures it with greedy decoding of deterministic prompts.
SpeedResult measure_speed(const std::string& path, const SpeedOptions& opt, ThreadPool* pool);

// Resets this process's peak RSS (VmHWM) so the next reading covers what follows;
// false where the kernel does not allow it.
bool reset_peak_rss();

}  // namespace edgerag
