#include "runtime/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <future>
#include <list>
#include <mutex>
#include <thread>

#include "runtime/scheduler_fake_model.h"

namespace edgerag {
namespace {

using test::FakeStepModel;

using test::Collector;

std::vector<int32_t> prompt_of(int n, int seed) {
  std::vector<int32_t> p(n);
  for (int i = 0; i < n; ++i) p[i] = (seed * 31 + i * 7) % 97;
  return p;
}

TEST(Scheduler, ConcurrentRequestsMatchTheSequentialReference) {
  FakeStepModel model(512, 8);
  Scheduler sched(model, {.max_running = 8, .max_queued = 64, .step_tokens = 64, .prefill_chunk = 16});
  const std::vector<int32_t> system = prompt_of(40, 1);  // shared by half the requests
  std::list<Collector> cs;
  std::vector<std::vector<int32_t>> prompts;
  // The first request holds the engine at its first token until every request is
  // queued, so the batches below do not depend on how fast this thread submits.
  std::promise<void> submitted;
  std::shared_future<void> all_queued = submitted.get_future().share();
  for (int i = 0; i < 24; ++i) {
    auto p = prompt_of(3 + (i * 13) % 70, i + 2);
    if (i % 2 == 0) p.insert(p.begin(), system.begin(), system.end());
    prompts.push_back(p);
    Collector& c = cs.emplace_back();
    if (i == 0) c.gate = [all_queued](int32_t) { return all_queued.wait(), true; };
    sched.submit(c.request(p, 5 + i % 9));
  }
  submitted.set_value();
  int i = 0;
  for (auto& c : cs) {
    c.wait();
    EXPECT_EQ(c.tokens, model.reference(prompts[i], 5 + i % 9)) << "request " << i;
    EXPECT_EQ(c.result.reason, FinishReason::Length);
    EXPECT_EQ(c.result.n_generated, 5 + i % 9);
    // Every pick is the one-hot logit 1 among 97 zeros.
    ASSERT_TRUE(c.result.token_p.has_value());
    const double p = std::exp(1.0) / (std::exp(1.0) + 96);
    EXPECT_NEAR(*c.result.token_p, p, 1e-6 * p);  // float exponentials
    ++i;
  }
  auto st = sched.stats();
  EXPECT_GT(st.cached_tokens, 0u);  // later requests reused the system prompt's blocks
  // Batching happened: some forward carried several sequences.
  size_t widest = 0;
  for (auto& s : model.steps_) widest = std::max(widest, s.size());
  EXPECT_GT(widest, 1u);
}

TEST(Scheduler, RepeatedSystemPromptIsPrefilledOnce) {
  FakeStepModel model(256, 4);
  Scheduler sched(model, {});
  auto system = prompt_of(30, 5);  // 7 full blocks
  auto a = system, b = system;
  a.push_back(1);
  b.insert(b.end(), {2, 3, 4});
  Collector ca, cb;
  sched.submit(ca.request(a, 4));
  ca.wait();
  EXPECT_EQ(ca.result.n_cached, 0);
  sched.submit(cb.request(b, 4));
  cb.wait();
  EXPECT_EQ(cb.result.n_cached, 28);
  EXPECT_EQ(cb.tokens, model.reference(b, 4));  // the shared blocks hold the right history
  // An identical prompt still computes its last token (the logits come from it).
  Collector cc;
  sched.submit(cc.request(b, 4));
  cc.wait();
  EXPECT_EQ(cc.result.n_cached, 32);
  EXPECT_EQ(cc.tokens, cb.tokens);
}

TEST(Scheduler, LongPromptIsChunkedWhileOthersKeepDecoding) {
  FakeStepModel model(1024, 16);
  model.delay_ms_ = 1;
  Scheduler sched(model, {.max_running = 4, .max_queued = 8, .step_tokens = 40, .prefill_chunk = 32});
  Collector talker, reader;
  std::atomic<bool> long_submitted{false};
  std::vector<int32_t> long_prompt = prompt_of(1500, 9);
  talker.gate = [&](int32_t) {
    if (!long_submitted.exchange(true)) sched.submit(reader.request(long_prompt, 3));
    return true;
  };
  sched.submit(talker.request(prompt_of(10, 3), 200));
  talker.wait();
  reader.wait();
  EXPECT_EQ(talker.tokens, model.reference(prompt_of(10, 3), 200));
  EXPECT_EQ(reader.tokens, model.reference(long_prompt, 3));
  size_t biggest = 0, mixed = 0;
  for (auto& s : model.steps_) {
    size_t total = 0;
    for (size_t n : s) {
      biggest = std::max(biggest, n);
      total += n;
    }
    EXPECT_LE(total, 40u);
    mixed += s.size() == 2 && s[0] == 1 && s[1] > 1;  // a decode token alongside a prompt chunk
  }
  EXPECT_LE(biggest, 32u);
  EXPECT_GE(mixed, 1500u / 39);  // the talker decoded during (nearly) every prefill step
}

TEST(Scheduler, FullQueueIsRefusedAndOversizedRequestsRejected) {
  FakeStepModel model(64, 2, 97, 200);  // 128 tokens of KV, a 200-token context
  model.delay_ms_ = 2;
  Scheduler sched(model, {.max_running = 1, .max_queued = 2, .step_tokens = 16, .prefill_chunk = 16});
  std::list<Collector> cs;
  int accepted = 0, refused = 0;
  for (int i = 0; i < 6; ++i) {
    try {
      sched.submit(cs.emplace_back().request(prompt_of(5, i), 50));
      ++accepted;
    } catch (const Overloaded&) {
      ++refused;
      cs.pop_back();
    }
  }
  EXPECT_GE(refused, 2);
  EXPECT_LE(accepted, 4);
  for (auto& c : cs) c.wait();
  Collector big;
  EXPECT_THROW(sched.submit(big.request(prompt_of(200, 1), 5)), Error);  // no room in the context
  EXPECT_THROW(sched.submit(big.request(prompt_of(150, 1), 10)), Error);  // more than the whole KV cache
  EXPECT_THROW(sched.submit(big.request({}, 10)), Error);
}

TEST(Scheduler, CancelFreesTheSequence) {
  FakeStepModel model(64, 4);
  model.delay_ms_ = 1;
  Scheduler sched(model, {.max_running = 2, .max_queued = 4, .step_tokens = 16, .prefill_chunk = 16, .prefix_cache = false});
  Collector c;
  std::atomic<int> seen{0};
  c.gate = [&](int32_t) { return ++seen, true; };
  uint64_t id = sched.submit(c.request(prompt_of(6, 1), 200));
  while (seen < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  sched.cancel(id);
  c.wait();
  EXPECT_EQ(c.result.reason, FinishReason::Cancelled);
  EXPECT_LT(c.result.n_generated, 200);
  EXPECT_EQ(model.n_blocks_free(), 64);
  // The stats (the server's /metrics) show it too, though no step ran after the cancellation.
  for (int i = 0; i < 1000 && (sched.stats().kv_blocks_used != 0 || sched.stats().running != 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(sched.stats().kv_blocks_used, 0);
  EXPECT_EQ(sched.stats().running, 0);
  // A client that goes away mid-stream (on_token returns false) ends the same way.
  Collector d;
  d.gate = [](int32_t) { return false; };
  sched.submit(d.request(prompt_of(6, 2), 50));
  d.wait();
  EXPECT_EQ(d.result.n_generated, 1);
  EXPECT_EQ(model.n_blocks_free(), 64);
}

TEST(Scheduler, EvictsCachedPrefixesUnderPressure) {
  FakeStepModel model(24, 4);  // room for one 64-token request at a time
  Scheduler sched(model, {.max_running = 4, .max_queued = 16, .step_tokens = 64, .prefill_chunk = 64});
  std::list<Collector> cs;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i) {
    prompts.push_back(prompt_of(60, 10 + i));
    sched.submit(cs.emplace_back().request(prompts.back(), 20));
  }
  int i = 0;
  for (auto& c : cs) {
    c.wait();
    EXPECT_EQ(c.result.reason, FinishReason::Length);
    EXPECT_EQ(c.tokens, model.reference(prompts[i++], 20));
  }
  for (int k = 0; k < 1000 && sched.stats().running != 0; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Each request needed 20 of the 24 blocks, so admitting it evicted most of the
  // previous prompt's 15 cached blocks: now every block is either free or held by
  // exactly one cache entry, and the last prompt's 15 blocks are among them.
  const size_t entries = sched.stats().prefix_entries;
  EXPECT_EQ(static_cast<size_t>(model.n_blocks_free()) + entries, 24u);
  EXPECT_GE(entries, 15u);
  EXPECT_LT(entries, 24u);
  // The most recently used prefix survived: resubmitted, the last prompt reuses
  // all 14 blocks a match may return ((60 - 1) / 4) and prefills 4 tokens.
  Collector last;
  sched.submit(last.request(prompts[7], 20));
  last.wait();
  EXPECT_EQ(last.result.n_cached, 56);
  EXPECT_EQ(last.tokens, model.reference(prompts[7], 20));
  // The least recently used one was evicted: the first prompt is computed afresh.
  Collector first;
  sched.submit(first.request(prompts[0], 20));
  first.wait();
  EXPECT_EQ(first.result.n_cached, 0);
  EXPECT_EQ(first.tokens, model.reference(prompts[0], 20));
}


SpecOptions lookup(int draft_max = 8) { return parse_speculative("lookup", draft_max); }

// Speculating and plain requests in one batch: every output equals the
// sequential reference, drafts were accepted (the model's text repeats, so
// lookup hits) and rejected ones were truncated away (positions are checked by
// the fake model on every write), and no block leaks.
TEST(Scheduler, LookupDraftsInAMixedBatchMatchTheSequentialReference) {
  // An 11-token vocabulary and a prediction from the last token only: text soon
  // cycles (drafts accepted) while prompts hold other continuations (drafts rejected).
  FakeStepModel model(256, 4, 11, 4096, /*window=*/1);
  auto prompt_of = [](int n, int seed) {
    auto p = edgerag::prompt_of(n, seed);
    for (auto& t : p) t %= 11;
    return p;
  };
  Scheduler sched(model, {.max_running = 8, .max_queued = 64, .step_tokens = 48, .prefill_chunk = 16,
                          .prefix_cache = false});
  std::list<Collector> cs;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int> max_tokens;
  const int32_t end_token = model.reference(prompt_of(10, 5), 30).back();  // ends some requests early
  for (int i = 0; i < 10; ++i) {
    prompts.push_back(prompt_of(5 + (i * 17) % 50, i + 3));
    max_tokens.push_back(20 + 7 * i);
    sched.submit(cs.emplace_back().request(prompts.back(), max_tokens.back(), i == 4 ? end_token : -1,
                                           i % 2 ? SpecOptions{} : lookup(1 + i)));
  }
  int i = 0;
  for (auto& c : cs) {
    c.wait();
    auto want = model.reference(prompts[i], max_tokens[i]);
    if (i == 4) {
      auto end = std::find(want.begin(), want.end(), end_token);
      if (end != want.end()) want.erase(end, want.end());
    }
    EXPECT_EQ(c.tokens, want) << "request " << i;
    if (i % 2) {
      EXPECT_EQ(c.result.n_drafted, 0);
    } else {
      EXPECT_GT(c.result.n_accepted, 0) << "request " << i;
      EXPECT_LE(c.result.n_accepted, c.result.n_drafted);
    }
    // Only emitted positions count, drafts verified or not: each a one-hot logit among 11.
    ASSERT_TRUE(c.result.token_p.has_value());
    const double p = std::exp(1.0) / (std::exp(1.0) + 10);
    EXPECT_NEAR(*c.result.token_p, p, 1e-6 * p);
    ++i;
  }
  const auto st = sched.stats();
  EXPECT_GT(st.accepted_tokens, 0u);
  EXPECT_LT(st.accepted_tokens, st.drafted_tokens);  // some drafts were rejected and truncated
  for (int k = 0; k < 1000 && sched.stats().running != 0; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(model.n_blocks_free(), 256);
}

// A model whose text never repeats: lookup drafts (from a prompt that repeats
// itself) are nearly always rejected, each rejection truncates the KV, and the
// drafter backs off to a few drafts per hundred tokens.
TEST(Scheduler, RejectedLookupDraftsAreTruncatedAndBackedOff) {
  FakeStepModel model(128, 4);
  Scheduler sched(model, {.max_running = 4, .max_queued = 8, .step_tokens = 64, .prefill_chunk = 64});
  auto prompt = prompt_of(24, 7);
  prompt.insert(prompt.end(), prompt.begin(), prompt.end());
  Collector c;
  sched.submit(c.request(prompt, 300, -1, lookup()));
  c.wait();
  EXPECT_EQ(c.tokens, model.reference(prompt, 300));
  EXPECT_GT(c.result.n_drafted, 0);
  EXPECT_LT(c.result.n_drafted, 60);
  for (int k = 0; k < 1000 && sched.stats().running != 0; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(model.n_blocks_free() + static_cast<int>(sched.stats().prefix_entries), 128);
}

// A queue head that cannot fit even with every unused cached prefix evicted
// waits without emptying the prefix cache.
TEST(Scheduler, HeadThatCannotFitLeavesThePrefixCacheAlone) {
  FakeStepModel model(24, 4);
  Scheduler sched(model, {.max_running = 4, .max_queued = 8, .step_tokens = 64, .prefill_chunk = 64});
  Collector p;
  sched.submit(p.request(prompt_of(28, 1), 4));  // leaves 7 cached blocks
  p.wait();
  model.delay_ms_ = 5;
  Collector r, h;
  sched.submit(r.request(prompt_of(40, 2), 20));  // 15 blocks; its 10 prompt blocks get cached too
  for (int k = 0; k < 2000 && sched.stats().running == 0; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  sched.submit(h.request(prompt_of(30, 3), 10));  // 10 blocks: 2 free + 7 evictable are not enough
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  const auto st = sched.stats();
  EXPECT_EQ(st.queued, 1);
  EXPECT_EQ(st.prefix_entries, 17u);
  r.wait();
  h.wait();
  EXPECT_EQ(h.tokens, model.reference(prompt_of(30, 3), 10));
}

// A draft model identical to the target: every draft is accepted only if the
// draft model's own KV (read incrementally, truncated after each step) always
// holds exactly the accepted text. Draft, lookup and plain requests share the batch.
TEST(Scheduler, DraftModelKvFollowsTheAcceptedText) {
  FakeStepModel model(256, 4), draft(256, 4);
  Scheduler sched(model, {.max_running = 6, .max_queued = 16, .step_tokens = 64, .prefill_chunk = 16}, &draft);
  std::list<Collector> cs;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(prompt_of(7 + 11 * i, 40 + i));
    const SpecOptions spec = i % 3 == 0 ? parse_speculative("draft:fake", 2 + i) : i % 3 == 1 ? lookup() : SpecOptions{};
    sched.submit(cs.emplace_back().request(prompts.back(), 30 + i, -1, spec));
  }
  int i = 0;
  for (auto& c : cs) {
    c.wait();
    EXPECT_EQ(c.tokens, model.reference(prompts[i], 30 + i)) << "request " << i;
    if (i % 3 == 0) {
      EXPECT_GT(c.result.n_drafted, 0);
      EXPECT_EQ(c.result.n_accepted, c.result.n_drafted) << "request " << i;
    }
    ++i;
  }
  for (int k = 0; k < 1000 && sched.stats().running != 0; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(draft.n_blocks_free(), 256);
  // Without a draft model such a request is refused; a draft of another vocabulary is too.
  Scheduler plain(model, {});
  EXPECT_THROW(plain.submit(Collector().request(prompts[0], 4, -1, parse_speculative("draft:x", 4))), Error);
  FakeStepModel other(16, 4, 50);
  EXPECT_THROW(Scheduler(model, {}, &other), Error);
}

}  // namespace
}  // namespace edgerag
