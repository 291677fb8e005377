// `edgerag bench chunk-quality`: what chunk KV reuse costs in quality, on a
// real model. Passages are sampled from the model itself (seeded, so the set is
// fixed); each prompt is a prefix, several passages as chunks, and the opening
// of a held-out passage; its continuation is scored teacher-forced. Per
// recompute share of `chunks` mode (and for chunks-exact): greedy agreement
// with a full prefill (share of positions, the first answer position included,
// where the argmax is the same), perplexity of the continuation against the
// full prefill's, and the tokens recomputed.
#pragma once
#include <string>
#include <vector>

#include "runtime/chunk_prefill.h"

namespace edgerag {

struct ChunkQualityOptions {
  std::string model;
  std::vector<double> shares = {0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0};
  int recompute_first = 2;
  int samples = 64;
  int chunks = 6;           // passages per prompt
  int passage_tokens = 48;  // sampled tokens per passage
  int opening_tokens = 8;   // of the held-out passage, in the prompt
  int n_threads = 0;
};

struct ChunkQualityRow {
  std::string mode;     // "chunks" or "chunks-exact"
  double share = 0;     // chunks: recompute share
  double agreement = 0; // argmax equal to the full prefill's, over scored positions
  double first_identical = 0;  // share of prompts whose first answer token is the full prefill's
  double ppl = 0, ppl_full = 0, ppl_ratio = 0;
  double recomputed_share = 0;  // recomputed / (recomputed + reused) chunk tokens
};

std::vector<ChunkQualityRow> bench_chunk_quality(const ChunkQualityOptions& opts);

}  // namespace edgerag
