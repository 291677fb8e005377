// `edgerag bench spec`: greedy decode speed with and without speculative
// decoding on a file of prompts, through the same scheduler path (one request
// at a time), and whether the outputs are identical (they must be).
#pragma once
#include <string>
#include <vector>

#include "runtime/speculative.h"

namespace edgerag {

struct SpecBenchOptions {
  std::string model;
  SpecOptions spec;
  std::string prompts_file;  // JSONL: one object with a "prompt" string per line
  int n_gen = 128;
  int n_threads = 0;  // 0 = default_thread_count()
  // Plain / speculative run pairs per prompt, alternating; each side's median
  // decode time counts, so a load burst on a busy machine hits one pair only.
  int pairs = 1;
};

struct SpecBenchRow {
  int n_prompt = 0, n_gen = 0;            // tokens (n_gen: generated with speculation)
  double base_tok_s = 0, spec_tok_s = 0;  // decode tokens/s after the first token
  double speedup = 0;                     // spec_tok_s / base_tok_s
  int drafted = 0, accepted = 0, verify_steps = 0;
  double acceptance_rate = 0;      // accepted / drafted
  double mean_accepted = 0;        // accepted drafts per verification step
  bool identical = false;          // same greedy tokens
};

struct SpecBenchResult {
  std::vector<SpecBenchRow> prompts;
  SpecBenchRow total;  // sums of tokens and times over the prompts
};

// Per prompt: the plain run, then the speculative one, `pairs` times (greedy,
// n_gen tokens, end-of-generation tokens do not stop; `identical` over every
// pair). Throws edgerag::Error for a bad file.
SpecBenchResult bench_spec(const SpecBenchOptions& opts);

// What speculation costs on a CPU: one forward over a sequence at context
// n_ctx carrying 1 + k tokens (last token + k drafts, logits for all), relative
// to a plain decode step (k = 0). Repetitions alternate over k so load changes
// on a busy machine hit every k alike; medians are reported.
struct VerifyCostOptions {
  std::string model;
  int n_ctx = 512;
  int k_max = 8;
  int n_threads = 0;
  int reps = 7;
};
struct VerifyCostRow {
  int k = 0;
  double ms = 0;     // median forward time
  double ratio = 0;  // ms / ms at k = 0
};
std::vector<VerifyCostRow> bench_verify_cost(const VerifyCostOptions& opts);

}  // namespace edgerag
