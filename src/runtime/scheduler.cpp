#include "runtime/scheduler.h"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "runtime/sampler.h"
#include "util/log.h"
#include "util/timer.h"

namespace edgerag {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "error";
}

struct Scheduler::Seq {
  uint64_t id = 0;
  GenRequest req;
  int32_t seq = -1;
  size_t n_past = 0;  // tokens in this sequence's KV
  int n_cached = 0;
  int n_generated = 0;
  int n_drafted = 0, n_accepted = 0, n_verify = 0;
  int32_t last_token = -1;  // sampled, not yet fed back
  int cap_blocks = 0;       // blocks the sequence may grow to (prompt + max_tokens)
  std::vector<int32_t> feed;     // this step's decode entry: last_token, then drafts
  // Speculating requests: prompt + generated tokens (what lookup matches, what
  // the draft model has read), and how many tokens to draft.
  std::vector<int32_t> history;
  std::optional<DraftPacer> pacer;
  int32_t draft_seq = -1;  // SpecMode::Draft: the sequence in the draft model
  size_t draft_len = 0;    // tokens of `history` in the draft model's KV
  Timer timer;
  double queue_ms = 0, ttft_ms = 0;
  ChunkPrefillStats kv_reuse;
  TokenProbability token_p;  // of every picked token
  bool prefilling() const { return n_past < req.prompt.size(); }
};

Scheduler::Scheduler(StepModel& model, SchedulerOptions opt, StepModel* draft)
    : model_(model),
      draft_(draft),
      opt_(opt),
      cache_(model.block_size(), [&m = model](int32_t b) { m.retain_block(b); },
             [&m = model](int32_t b) { m.release_block(b); }) {
  EDGERAG_CHECK(opt_.max_running > 0 && opt_.max_queued >= 0 && opt_.step_tokens >= opt_.max_running &&
                    opt_.prefill_chunk > 0,
                "scheduler: invalid options (max_running {}, max_queued {}, step_tokens {}, prefill_chunk {})",
                opt_.max_running, opt_.max_queued, opt_.step_tokens, opt_.prefill_chunk);
  EDGERAG_CHECK(!draft_ || draft_->n_vocab() == model_.n_vocab(),
                "draft model has a vocabulary of {} tokens, the model {}", draft_ ? draft_->n_vocab() : 0,
                model_.n_vocab());
  stats_.kv_blocks_total = model_.n_blocks_total();
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (auto& s : running_) finish(*s, FinishReason::Cancelled);
  for (auto& s : queue_) finish(*s, FinishReason::Cancelled);
  cache_.clear();
}

uint64_t Scheduler::submit(GenRequest req) {
  EDGERAG_CHECK(!req.prompt.empty(), "request has an empty prompt");
  EDGERAG_CHECK(req.sample && req.on_token && req.on_done && req.is_end, "request is missing a callback");
  const auto n_prompt = static_cast<int64_t>(req.prompt.size());
  EDGERAG_CHECK(n_prompt < model_.n_ctx(), "prompt of {} tokens does not fit the context of {} tokens", n_prompt,
                model_.n_ctx());
  EDGERAG_CHECK(req.max_tokens > 0, "max_tokens must be positive, got {}", req.max_tokens);
  req.max_tokens = static_cast<int>(std::min<int64_t>(req.max_tokens, model_.n_ctx() - n_prompt));
  check_kv_reuse(req.kv_reuse);
  check_chunk_spans(req.chunks, n_prompt);
  auto s = std::make_unique<Seq>();
  const int bs = model_.block_size();
  s->cap_blocks = static_cast<int>((n_prompt + req.max_tokens + bs - 1) / bs);
  EDGERAG_CHECK(s->cap_blocks <= model_.n_blocks_total(),
                "prompt + max_tokens ({} tokens) exceed the KV cache ({} tokens)", n_prompt + req.max_tokens,
                int64_t{model_.n_blocks_total()} * bs);
  s->req = std::move(req);
  s->req.spec.mode = resolve_auto(s->req.spec, s->req.prompt.size());
  EDGERAG_CHECK(s->req.spec.mode != SpecMode::Draft || draft_, "speculative decoding with a draft model needs "
                "the draft loaded at start-up (--speculative draft:MODEL)");
  if (s->req.spec.mode != SpecMode::Off) {
    s->pacer.emplace(s->req.spec.draft_max);
    s->history = s->req.prompt;
  }
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    if (static_cast<int>(queue_.size()) >= opt_.max_queued)
      throw Overloaded(fmt::format("server busy: {} requests already waiting", queue_.size()));
    id = s->id = next_id_++;
    queue_.push_back(std::move(s));
    stats_.queued = static_cast<int>(queue_.size());
  }
  cv_.notify_all();
  return id;
}

void Scheduler::cancel(uint64_t id) {
  std::unique_ptr<Seq> waiting;
  {
    std::lock_guard lk(mu_);
    auto it = std::find_if(queue_.begin(), queue_.end(), [&](const auto& s) { return s->id == id; });
    if (it != queue_.end()) {
      waiting = std::move(*it);
      queue_.erase(it);
      stats_.queued = static_cast<int>(queue_.size());
    } else {
      cancelled_.push_back(id);
    }
  }
  if (waiting) finish(*waiting, FinishReason::Cancelled);
  cv_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void Scheduler::finish(Seq& s, FinishReason reason, std::string error) {
  if (s.seq >= 0) model_.free_seq(s.seq);
  if (s.draft_seq >= 0) draft_->free_seq(s.draft_seq);
  s.seq = s.draft_seq = -1;
  GenResult r;
  r.reason = reason;
  r.error = std::move(error);
  r.n_prompt = static_cast<int>(s.req.prompt.size());
  r.n_cached = s.n_cached;
  r.n_generated = s.n_generated;
  r.n_drafted = s.n_drafted;
  r.n_accepted = s.n_accepted;
  r.n_verify = s.n_verify;
  r.queue_ms = s.queue_ms;
  r.ttft_ms = s.ttft_ms;
  r.total_ms = s.timer.ms();
  r.kv_reuse = s.kv_reuse;
  r.token_p = s.token_p.mean();
  auto done = std::move(s.req.on_done);
  s.req.on_done = nullptr;
  if (done) done(r);
}

// Admits the queue head if its KV blocks can be reserved; mu_ is held. Cached
// prefixes are evicted only when that makes the head fit: a head that cannot
// fit yet leaves the cache alone and is looked up again later without counting
// toward the hit rate twice.
bool Scheduler::admit_locked() {
  Seq& s = *queue_.front();
  const int bs = model_.block_size();
  std::vector<int32_t> shared;
  if (opt_.prefix_cache) shared = cache_.match(s.req.prompt, (s.req.prompt.size() - 1) / bs);
  int reserved = 0;  // blocks running sequences may still allocate
  std::unordered_set<int32_t> in_use(shared.begin(), shared.end());
  for (const auto& r : running_) {
    const auto blocks = model_.seq_blocks(r->seq);
    reserved += r->cap_blocks - static_cast<int>(blocks.size());
    in_use.insert(blocks.begin(), blocks.end());
  }
  const int need = s.cap_blocks - static_cast<int>(shared.size());
  // Cached blocks no sequence holds: what evicting the whole cache would free.
  const int evictable = static_cast<int>(std::ranges::count_if(cache_.blocks(), [&](int32_t b) { return !in_use.count(b); }));
  if (model_.n_blocks_free() - reserved + evictable < need) return false;
  s.seq = model_.new_seq(shared);  // takes its own references, so eviction below cannot free them
  while (model_.n_blocks_free() - reserved < need && cache_.evict_one()) {
  }
  if (model_.n_blocks_free() - reserved < need) {  // not expected: evictable counted every candidate
    model_.free_seq(s.seq);
    s.seq = -1;
    return false;
  }
  if (opt_.prefix_cache) cache_.count_lookup(s.req.prompt.size(), shared.size() * bs);
  s.n_past = shared.size() * bs;
  s.n_cached = static_cast<int>(s.n_past);
  s.queue_ms = s.timer.ms();
  stats_.prompt_tokens += s.req.prompt.size();
  stats_.cached_tokens += s.n_past;
  running_.push_back(std::move(queue_.front()));
  queue_.pop_front();
  return true;
}

void Scheduler::loop() {
  for (;;) {
    std::vector<uint64_t> cancelled;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !running_.empty() || !queue_.empty() || !cancelled_.empty(); });
      if (stop_) return;
      cancelled.swap(cancelled_);
    }
    for (uint64_t id : cancelled) {
      auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& s) { return s->id == id; });
      if (it == running_.end()) continue;
      finish(**it, FinishReason::Cancelled);
      running_.erase(it);
    }
    {
      std::unique_lock lk(mu_);
      while (static_cast<int>(running_.size()) < opt_.max_running && !queue_.empty() && admit_locked()) {
      }
      stats_.queued = static_cast<int>(queue_.size());
      update_stats_locked();  // admissions and cancellations since the last step
      if (running_.empty()) {
        // Only reachable when the head cannot be admitted yet; wait for a change.
        cv_.wait_for(lk, std::chrono::milliseconds(10));
        continue;
      }
    }
    try {
      step();
    } catch (const std::exception& e) {
      log(LogLevel::Error, "scheduler: step failed: {}", e.what());
      for (auto& s : running_) finish(*s, FinishReason::Error, e.what());
      running_.clear();
    }
    std::lock_guard lk(mu_);
    update_stats_locked();
    stats_.steps++;
  }
}

void Scheduler::update_stats_locked() {
  stats_.running = static_cast<int>(running_.size());
  stats_.kv_blocks_used = model_.n_blocks_total() - model_.n_blocks_free();
  stats_.prefix_entries = cache_.size();
  stats_.prefix_hit_rate = cache_.hit_rate();
}

bool Scheduler::prefill_with_chunks(Seq& s) {
  // Blocks no running sequence may still claim: room for the chunks the store lacks.
  int spare = model_.n_blocks_free();
  for (const auto& r : running_) spare -= r->cap_blocks - static_cast<int>(model_.seq_blocks(r->seq).size());
  std::vector<float> logits;
  ChunkPrefillStats st;
  if (!model_.prefill_chunks(s.seq, s.req.prompt, s.req.chunks, s.req.kv_reuse, std::max(spare, 0), logits, st)) {
    s.req.kv_reuse.mode = KvReuse::Prefix;  // the model cannot: prefill in slices
    return true;
  }
  s.kv_reuse = st;
  s.n_past = s.req.prompt.size();
  {
    std::lock_guard lk(mu_);
    stats_.kv_reuse += st;
  }
  if (opt_.prefix_cache) {
    // Only an exact prefix may be shared: in chunks mode, up to the end of the first chunk.
    size_t exact = s.req.prompt.size();
    if (s.req.kv_reuse.mode == KvReuse::Chunks) {
      const ChunkSpan& c = s.req.chunks.front();
      exact = static_cast<size_t>(s.req.kv_reuse.context_end < 0 || s.req.kv_reuse.context_end >= c.begin ? c.end : c.begin);
    }
    cache_.insert(std::span<const int32_t>(s.req.prompt).first(exact), model_.seq_blocks(s.seq));
  }
  return emit(s, pick(s, logits, -1));
}

void Scheduler::step() {
  std::vector<StepModel::Entry> entries;
  std::vector<Seq*> owners;
  // Requests reusing chunk KV prefill their whole prompt first, one at a time.
  std::vector<Seq*> finished;
  for (auto& s : running_)
    if (s->prefilling() && s->n_past == static_cast<size_t>(s->n_cached) && !s->req.chunks.empty() &&
        s->req.kv_reuse.mode != KvReuse::Prefix && !prefill_with_chunks(*s))
      finished.push_back(s.get());
  std::erase_if(running_, [&](const auto& s) { return std::find(finished.begin(), finished.end(), s.get()) != finished.end(); });
  if (running_.empty()) return;
  int budget = opt_.step_tokens;
  // Decoding sequences first, so a long prompt never delays them: one token
  // each, plus draft tokens from the budget left beyond one token per decoder.
  int spare = budget;
  for (auto& s : running_) spare -= !s->prefilling();
  std::vector<std::pair<Seq*, int>> want_model_drafts;
  for (auto& s : running_) {
    if (s->prefilling()) continue;
    s->feed.assign(1, s->last_token);
    if (!s->pacer) continue;
    // Tokens emitted this step are at most drafts + 1 and at most what max_tokens
    // leaves, so the KV written stays within the blocks reserved at admission.
    const int k = s->pacer->next(std::min({s->req.spec.draft_max, s->req.max_tokens - s->n_generated - 1, spare}));
    if (k <= 0) continue;
    if (s->req.spec.mode == SpecMode::Draft) {
      want_model_drafts.emplace_back(s.get(), k);
      spare -= k;
    } else {
      const auto drafts = lookup_draft(s->history, k);
      s->feed.insert(s->feed.end(), drafts.begin(), drafts.end());
      spare -= static_cast<int>(drafts.size());
    }
  }
  if (!want_model_drafts.empty()) draft_with_model(want_model_drafts);
  for (auto& s : running_) {
    if (s->prefilling()) continue;
    const auto n = static_cast<int32_t>(s->feed.size());
    entries.push_back({s->seq, s->feed, static_cast<int32_t>(s->n_past), n});
    owners.push_back(s.get());
    budget -= n;
  }
  // Then prompt chunks in admission order with what is left of the budget.
  for (auto& s : running_) {
    if (!s->prefilling() || budget <= 0) continue;
    size_t n = std::min<size_t>({s->req.prompt.size() - s->n_past, static_cast<size_t>(opt_.prefill_chunk),
                                 static_cast<size_t>(budget)});
    entries.push_back({s->seq, std::span<const int32_t>(s->req.prompt).subspan(s->n_past, n),
                       static_cast<int32_t>(s->n_past)});
    owners.push_back(s.get());
    budget -= static_cast<int>(n);
  }
  std::vector<float> logits;
  model_.forward(entries, logits);
  const size_t nv = model_.n_vocab();
  size_t rows = 0;
  for (const auto& e : entries) rows += e.n_logits;
  EDGERAG_CHECK(logits.size() == rows * nv, "scheduler: model returned {} logits for {} rows", logits.size(), rows);

  std::vector<Seq*> done;
  const float* row = logits.data();
  for (size_t i = 0; i < entries.size(); ++i, row += entries[i - 1].n_logits * nv) {
    Seq& s = *owners[i];
    if (s.prefilling()) {
      s.n_past += entries[i].tokens.size();
      if (s.prefilling()) continue;  // more prompt chunks to go
      if (opt_.prefix_cache) cache_.insert(s.req.prompt, model_.seq_blocks(s.seq));
      if (!emit(s, pick(s, std::span<const float>(row, nv), -1))) done.push_back(&s);
      continue;
    }
    // Verify: position j's logits pick the token after feed[j]; drafts are kept
    // while they equal what was picked, and the first other pick ends the step.
    const int n_drafts = static_cast<int>(s.feed.size()) - 1;
    int accepted = 0;
    bool finished = false;
    for (int j = 0; j <= n_drafts; ++j) {
      const int32_t draft = j < n_drafts ? s.feed[j + 1] : -1;
      const int32_t tok = pick(s, std::span<const float>(row + j * nv, nv), draft);
      accepted += tok == draft;
      if (!emit(s, tok)) {
        finished = true;
        break;
      }
      if (tok != draft) break;
    }
    if (n_drafts > 0) {
      s.n_drafted += n_drafts;
      s.n_accepted += accepted;
      ++s.n_verify;
      s.pacer->feedback(n_drafts, accepted);
      if (s.draft_seq >= 0 && !finished) {
        // The draft model read every draft but the last; keep what was accepted.
        s.draft_len = std::min(s.draft_len, s.history.size() - 1);
        draft_->truncate(s.draft_seq, static_cast<int32_t>(s.draft_len));
      }
      std::lock_guard lk(mu_);
      stats_.drafted_tokens += n_drafts;
      stats_.accepted_tokens += accepted;
    }
    if (finished) {
      done.push_back(&s);
      continue;
    }
    s.n_past += 1 + accepted;  // last_token and the accepted drafts stay in the KV
    if (accepted < n_drafts) model_.truncate(s.seq, static_cast<int32_t>(s.n_past));
  }
  std::erase_if(running_, [&](const auto& s) { return std::find(done.begin(), done.end(), s.get()) != done.end(); });
}

void Scheduler::draft_with_model(std::vector<std::pair<Seq*, int>>& want) {
  const int bs = draft_->block_size();
  int free = draft_->n_blocks_free();
  std::vector<StepModel::Entry> entries;
  std::vector<std::pair<Seq*, int>> owners;
  // First forward: what the draft model has not read yet (at least last_token).
  for (auto [s, k] : want) {
    const size_t unread = s->history.size() - s->draft_len;
    const auto blocks = static_cast<int>((s->draft_len + unread + k + bs - 1) / bs);
    const int have = s->draft_seq >= 0 ? static_cast<int>(draft_->seq_blocks(s->draft_seq).size()) : 0;
    if (blocks - have + 1 > free) continue;  // the draft pool is full: no drafts this step (+1: copy-on-write)
    free -= blocks - have + 1;
    if (s->draft_seq < 0) s->draft_seq = draft_->new_seq({});
    s->feed.reserve(1 + k);
    entries.push_back({s->draft_seq, std::span<const int32_t>(s->history).subspan(s->draft_len),
                       static_cast<int32_t>(s->draft_len)});
    owners.emplace_back(s, k);
  }
  std::vector<float> logits;
  const auto nv = static_cast<size_t>(draft_->n_vocab());
  while (!entries.empty()) {
    draft_->forward(entries, logits);
    std::vector<StepModel::Entry> next;
    std::vector<std::pair<Seq*, int>> next_owners;
    for (size_t i = 0; i < entries.size(); ++i) {
      auto [s, k] = owners[i];
      s->draft_len += entries[i].tokens.size();
      s->feed.push_back(argmax(logits.data() + i * nv, static_cast<int32_t>(nv)));
      if (static_cast<int>(s->feed.size()) > k) continue;  // k drafts: the last is never read
      next.push_back({s->draft_seq, std::span<const int32_t>(&s->feed.back(), 1), static_cast<int32_t>(s->draft_len)});
      next_owners.emplace_back(s, k);
    }
    entries.swap(next);
    owners.swap(next_owners);
  }
}

int32_t Scheduler::pick(Seq& s, std::span<const float> logits, int32_t draft) {
  const int32_t tok = s.req.sample(logits, draft);
  s.token_p.add(logits.data(), static_cast<int32_t>(logits.size()), tok);
  return tok;
}

bool Scheduler::emit(Seq& s, int32_t tok) {
  if (s.n_generated == 0) s.ttft_ms = s.timer.ms();
  const bool end = s.req.is_end(tok);
  if (!end) {
    ++s.n_generated;
    if (s.pacer) s.history.push_back(tok);
    std::lock_guard lk(mu_);
    stats_.generated_tokens++;
  }
  if (end || !s.req.on_token(tok)) {
    finish(s, FinishReason::Stop);
    return false;
  }
  if (s.n_generated >= s.req.max_tokens) {
    finish(s, FinishReason::Length);
    return false;
  }
  s.last_token = tok;
  return true;
}

}  // namespace edgerag
