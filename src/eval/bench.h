// Speed and memory benchmarks behind `edgerag bench gen` / `bench embed`:
// end-to-end figures through the same code paths the product uses (Generator,
// Encoder), medians over repetitions.
#pragma once
#include <string>
#include <vector>

#include "model/kv_cache.h"
#include "runtime/speculative.h"

namespace edgerag {

struct GenBenchOptions {
  std::string model;
  int n_prompt = 512;
  int n_gen = 128;
  int n_threads = 0;  // 0 = default_thread_count()
  int reps = 3;
  KvType kv_type = default_kv_type();
  // Also measure prefill of this many prompt tokens and decode at that context,
  // one row per length (how attention cost grows with the context).
  std::vector<int> ctx_sweep;
  bool bandwidth = true;  // measure the read-bandwidth bound (seconds: a buffer larger than the caches)
  SpecOptions spec;       // not off: decode through the scheduler with this draft source
};

struct CtxSweepRow {
  int n_ctx = 0;
  double prefill_tok_s = 0, decode_tok_s = 0;  // medians over reps
  double cpu_utilization = 0;                  // as in GenBenchResult
};

struct GenBenchResult {
  std::string model;
  int n_threads = 0, n_prompt = 0, n_gen = 0, reps = 0;
  double prefill_tok_s = 0, decode_tok_s = 0, ttft_ms = 0;  // medians
  double peak_rss_mb = 0;
  double bytes_per_token = 0;   // weight bytes read per decoded token
  // Read bandwidth measured on the same threads (tensor/bandwidth.h; 0: not measured): median and
  // spread of the probe's passes. The probe reads very different values on hosts
  // of the same kind, so compare hosts by bytes_per_token and decode_tok_s.
  double bandwidth_gb_s = 0, bandwidth_min_gb_s = 0, bandwidth_max_gb_s = 0;
  int bandwidth_passes = 0;
  double decode_bound_fraction = 0;  // decode_tok_s / (median bandwidth / bytes_per_token)
  double load_ms = 0;
  std::string kv_type;             // KvType::name()
  double kv_bytes_per_token = 0;   // KV pool bytes per cached token (KvCacheConfig::bytes_per_token)
  // Process CPU seconds per wall second over the timed runs: ~n_threads when the
  // cores were free, less when other work competed for them.
  double cpu_utilization = 0;
  std::vector<CtxSweepRow> ctx_sweep;  // in the order asked
  // Where the model ran (Model::device: cpu or vulkan) and its device memory in MiB:
  // weights, the KV pools of the caches made, the device's peak allocation.
  std::string device = "cpu";
  double vram_weights_mb = 0, vram_kv_mb = 0, vram_peak_mb = 0;
};

// Prompt: n_prompt deterministic ordinary-token ids; greedy decode of n_gen
// tokens that does not stop at end-of-generation tokens.
GenBenchResult bench_gen(const GenBenchOptions& opts);

struct EmbedBenchOptions {
  std::string model;
  int n_texts = 64;
  int words_per_text = 150;
  std::vector<int> batch_sizes = {1, 32};
  int n_threads = 0;
  int reps = 3;
};

struct EmbedBenchRow {
  int batch = 0;
  double texts_per_s = 0, tokens_per_s = 0;  // medians
  double tokens_per_cpu_s = 0;  // per process CPU second: the speed on uncontended cores
  double cpu_utilization = 0;   // as in GenBenchResult
};

struct EmbedBenchResult {
  std::string model;
  std::string device;  // where the encoder ran: cpu or vulkan (--device)
  int n_threads = 0, n_texts = 0, reps = 0;
  double tokens_per_text = 0;  // mean, [CLS]/[SEP] included
  std::vector<EmbedBenchRow> rows;
  double peak_rss_mb = 0;
};

// Texts of `words_per_text` words drawn deterministically from the model's own
// vocabulary; embeds (or, for a reranker, scores against a short query) them all.
EmbedBenchResult bench_embed(const EmbedBenchOptions& opts);

// Peak resident set size of this process so far (VmHWM), MB.
double peak_rss_mb();
// CPU time this process has used (all threads), seconds.
double process_cpu_seconds();

}  // namespace edgerag
