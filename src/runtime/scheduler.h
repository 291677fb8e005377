// Continuous batching: one engine thread runs a decoder step after step, and
// each step carries tokens of every running request. New requests join between
// steps; long prompts are prefilled in chunks under a per-step token budget so
// they never stall the decoding of others; admission is first come, first
// served, bounded by a queue length and by KV blocks (reserved up front, so a
// running request never runs out of cache mid-answer); prompt prefixes already
// computed are shared through the PrefixCache; a request stops when its
// callback says so (client gone, stop string) or on cancel().
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "runtime/chunk_prefill.h"
#include "runtime/gen_stats.h"
#include "runtime/prefix_cache.h"
#include "runtime/speculative.h"
#include "util/error.h"

namespace edgerag {

// What the scheduler needs from a decoder with a paged, ref-counted KV cache.
class StepModel {
 public:
  virtual ~StepModel() = default;
  struct Entry {
    int32_t seq;
    std::span<const int32_t> tokens;  // appended at positions pos, pos+1, ...
    int32_t pos;
    // Logits rows wanted for the entry's last n_logits tokens (1: a decode step
    // or a prompt chunk; every token: an entry carrying draft tokens to verify).
    int32_t n_logits = 1;
  };
  virtual int32_t n_vocab() const = 0;
  virtual int32_t n_ctx() const = 0;
  virtual int32_t block_size() const = 0;  // tokens per KV block
  virtual int32_t n_blocks_total() const = 0;
  virtual int32_t n_blocks_free() const = 0;
  // A new sequence whose first blocks are `prefix` (full, already computed
  // blocks it shares: the sequence takes a reference on each).
  virtual int32_t new_seq(std::span<const int32_t> prefix) = 0;
  virtual void free_seq(int32_t seq) = 0;
  virtual std::vector<int32_t> seq_blocks(int32_t seq) const = 0;
  virtual void retain_block(int32_t block) = 0;
  virtual void release_block(int32_t block) = 0;
  // Keeps the first n_tokens of a sequence and returns blocks past them to the
  // pool (rejected draft tokens); a kept shared block is copied before the next write.
  virtual void truncate(int32_t seq, int32_t n_tokens) = 0;
  // One batched forward over all entries; `logits` gets n_vocab floats per
  // requested row, entry-major and in position order within an entry.
  virtual void forward(std::span<const Entry> entries, std::vector<float>& logits) = 0;
  // Prefills the rest of a sequence's prompt with cached chunk KV
  // (runtime/chunk_prefill.h), using at most spare_blocks blocks beyond the
  // sequence's own; `logits` gets the last token's row. False: not supported
  // (the prompt is prefilled in chunks as usual).
  virtual bool prefill_chunks(int32_t /*seq*/, std::span<const int32_t> /*prompt*/,
                              std::span<const ChunkSpan> /*chunks*/, const KvReuseOptions& /*opt*/,
                              int32_t /*spare_blocks*/, std::vector<float>& /*logits*/, ChunkPrefillStats& /*stats*/) {
    return false;
  }
};

// Thrown by submit() when the queue is full: the server answers 429/503.
class Overloaded : public Error {
 public:
  using Error::Error;
};

enum class FinishReason { Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", ...

struct GenResult : GenStats {
  FinishReason reason = FinishReason::Stop;
  std::string error;
  int n_verify = 0;  // steps that verified drafts
};

struct GenRequest {
  std::vector<int32_t> prompt;
  int max_tokens = 128;
  // Picks the token for a position from its logits. `draft` is the token a
  // draft source proposed there (-1: none); returning it accepts the draft,
  // anything else replaces it and ends this step's verification (Sampler::sample
  // with a draft keeps the output distribution). Called once per emitted token.
  std::function<int32_t(std::span<const float> logits, int32_t draft)> sample;
  SpecOptions spec;  // draft source (Auto is resolved at submit)
  std::function<bool(int32_t token)> is_end;  // end-of-generation tokens
  // Each generated token (end tokens excluded), on the engine thread; return
  // false to stop the request (finish reason Stop).
  std::function<bool(int32_t token)> on_token;
  std::function<void(const GenResult&)> on_done;  // exactly once
  // Chunk KV reuse: the prompt's retrieved chunks (token spans) and the mode.
  // With a mode other than prefix the prompt is prefilled in one go through
  // StepModel::prefill_chunks (between two steps) instead of in slices.
  std::vector<ChunkSpan> chunks = {};
  KvReuseOptions kv_reuse = {};
};

struct SchedulerOptions {
  int max_running = 16;       // sequences decoded together
  int max_queued = 64;        // waiting requests beyond which submit() throws Overloaded
  int step_tokens = 256;      // token budget of one forward (decodes + prefill chunks)
  int prefill_chunk = 128;    // largest slice of one prompt per step
  bool prefix_cache = true;
};

struct SchedulerStats {
  int running = 0, queued = 0;
  int kv_blocks_total = 0, kv_blocks_used = 0;
  size_t prefix_entries = 0;
  double prefix_hit_rate = 0;
  uint64_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0, steps = 0;
  uint64_t drafted_tokens = 0, accepted_tokens = 0;  // speculative decoding
  ChunkPrefillStats kv_reuse;                        // chunk KV reuse, all requests
};

class Scheduler {
 public:
  // draft: a smaller model with the same vocabulary (its own KV pool) for
  // requests with SpecMode::Draft; the caller checks the vocabularies match
  // (check_same_vocabulary in scheduler_decoder.h), the scheduler their sizes.
  Scheduler(StepModel& model, SchedulerOptions opt, StepModel* draft = nullptr);
  ~Scheduler();  // finishes waiting and running requests as Cancelled
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request and returns its id; throws Overloaded when the queue is
  // full and Error for a request that can never fit (prompt + max_tokens).
  uint64_t submit(GenRequest req);
  void cancel(uint64_t id);  // no-op for unknown or finished ids
  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Seq;
  void loop();
  bool admit_locked();
  int blocks_needed(const Seq& s) const;
  void step();
  // Prefills sequences whose requests reuse chunk KV; false if the model cannot.
  bool prefill_with_chunks(Seq& s);
  // Appends up to `k` greedy draft-model tokens to each sequence's feed (one
  // draft forward per draft position, all sequences batched).
  void draft_with_model(std::vector<std::pair<Seq*, int>>& want);
  // Hands a sampled token to the request; false when the request is finished.
  // The request's pick for a position (its sample callback), its probability recorded.
  int32_t pick(Seq& s, std::span<const float> logits, int32_t draft);
  bool emit(Seq& s, int32_t tok);
  void finish(Seq& s, FinishReason reason, std::string error = "");
  void update_stats_locked();  // running, KV and prefix-cache figures; engine thread with mu_ held

  StepModel& model_;
  StepModel* draft_;
  SchedulerOptions opt_;
  PrefixCache cache_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Seq>> queue_;
  std::vector<std::unique_ptr<Seq>> running_;  // engine thread only (sizes mirrored in stats_)
  std::vector<uint64_t> cancelled_;
  SchedulerStats stats_;
  int reserved_blocks_ = 0;  // blocks promised to running sequences but not yet allocated
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace edgerag
