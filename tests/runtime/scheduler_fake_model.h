// A deterministic stand-in decoder for scheduler tests: its KV "cache" is a
// real ref-counted block pool holding the tokens themselves, and its next-token
// logits are a hash of the whole history read back through the sequence's
// block table. Any scheduling bug (wrong position, wrong shared block, a lost
// chunk, a write into a shared block) changes the output or throws.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/scheduler.h"
#include "util/error.h"

namespace edgerag::test {

class FakeStepModel : public StepModel {
 public:
  // window > 0: the prediction depends on the last `window` tokens only, so
  // generated text soon repeats itself and prompt-lookup drafts get accepted.
  FakeStepModel(int n_blocks, int block_size, int n_vocab = 97, int n_ctx = 4096, int window = 0)
      : bs_(block_size), nv_(n_vocab), ctx_(n_ctx), window_(window), blocks_(n_blocks), refs_(n_blocks, 0) {}

  // The token the fake model predicts after `history` (the reference).
  int32_t next_token(const std::vector<int32_t>& history) const {
    uint64_t h = 1469598103934665603ull;
    const size_t from = window_ > 0 && history.size() > static_cast<size_t>(window_) ? history.size() - window_ : 0;
    for (size_t i = from; i < history.size(); ++i) h = (h ^ static_cast<uint32_t>(history[i])) * 1099511628211ull;
    return static_cast<int32_t>((h >> 17) % nv_);
  }
  std::vector<int32_t> reference(std::vector<int32_t> prompt, int n) const {
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(next_token(prompt));
      prompt.push_back(out.back());
    }
    return out;
  }

  int32_t n_vocab() const override { return nv_; }
  int32_t n_ctx() const override { return ctx_; }
  int32_t block_size() const override { return bs_; }
  int32_t n_blocks_total() const override { return static_cast<int32_t>(blocks_.size()); }
  int32_t n_blocks_free() const override {
    std::lock_guard lk(mu_);
    int n = 0;
    for (int r : refs_) n += r == 0;
    return n;
  }
  int32_t new_seq(std::span<const int32_t> prefix) override {
    std::lock_guard lk(mu_);
    int32_t id = next_seq_++;
    for (int32_t b : prefix) {
      EDGERAG_CHECK(refs_.at(b) > 0 && static_cast<int>(blocks_[b].size()) == bs_, "adopting a bad block {}", b);
      refs_[b]++;
    }
    seqs_[id] = {std::vector<int32_t>(prefix.begin(), prefix.end()), prefix.size() * bs_};
    return id;
  }
  void free_seq(int32_t seq) override {
    std::lock_guard lk(mu_);
    for (int32_t b : seqs_.at(seq).blocks) unref(b);
    seqs_.erase(seq);
  }
  std::vector<int32_t> seq_blocks(int32_t seq) const override {
    std::lock_guard lk(mu_);
    return seqs_.at(seq).blocks;
  }
  void retain_block(int32_t b) override {
    std::lock_guard lk(mu_);
    refs_.at(b)++;
  }
  void release_block(int32_t b) override {
    std::lock_guard lk(mu_);
    unref(b);
  }
  void truncate(int32_t seq, int32_t n_tokens) override {
    std::lock_guard lk(mu_);
    Seq& s = seqs_.at(seq);
    EDGERAG_CHECK(n_tokens >= 0 && static_cast<size_t>(n_tokens) <= s.len, "truncate of seq {} to {}", seq, n_tokens);
    while (s.blocks.size() * bs_ > static_cast<size_t>(n_tokens) + (bs_ - 1)) {
      unref(s.blocks.back());
      s.blocks.pop_back();
    }
    if (n_tokens % bs_ != 0) {
      EDGERAG_CHECK(refs_[s.blocks.back()] == 1, "seq {} truncates into shared block {}", seq, s.blocks.back());
      blocks_[s.blocks.back()].resize(n_tokens % bs_);
    }
    s.len = n_tokens;
  }
  void forward(std::span<const Entry> entries, std::vector<float>& logits) override {
    std::lock_guard lk(mu_);
    size_t rows = 0;
    for (const Entry& e : entries) rows += e.n_logits;
    logits.assign(rows * nv_, 0.0f);
    std::vector<size_t> sizes;
    size_t row = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      EDGERAG_CHECK(e.n_logits >= 1 && static_cast<size_t>(e.n_logits) <= e.tokens.size(), "bad n_logits {}", e.n_logits);
      Seq& s = seqs_.at(e.seq);
      EDGERAG_CHECK(static_cast<size_t>(e.pos) == s.len, "seq {}: pos {} but {} tokens cached", e.seq, e.pos, s.len);
      for (int32_t t : e.tokens) {
        if (s.len % bs_ == 0) s.blocks.push_back(alloc());
        int32_t b = s.blocks.back();
        EDGERAG_CHECK(refs_[b] == 1, "seq {} writes into shared block {}", e.seq, b);
        blocks_[b].push_back(t);
        s.len++;
      }
      std::vector<int32_t> history;
      for (int32_t b : s.blocks) history.insert(history.end(), blocks_[b].begin(), blocks_[b].end());
      history.resize(history.size() - e.n_logits);
      for (int32_t j = e.tokens.size() - e.n_logits; j < static_cast<int32_t>(e.tokens.size()); ++j) {
        history.push_back(e.tokens[j]);
        logits[row++ * nv_ + next_token(history)] = 1.0f;
      }
      sizes.push_back(e.tokens.size());
    }
    steps_.push_back(std::move(sizes));
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
  }

  int delay_ms_ = 0;
  std::vector<std::vector<size_t>> steps_;  // tokens per entry of every forward

 private:
  struct Seq {
    std::vector<int32_t> blocks;
    size_t len = 0;
  };
  int32_t alloc() {
    for (size_t b = 0; b < refs_.size(); ++b)
      if (refs_[b] == 0) {
        refs_[b] = 1;
        blocks_[b].clear();
        return static_cast<int32_t>(b);
      }
    fail("fake KV pool exhausted");
  }
  void unref(int32_t b) {
    EDGERAG_CHECK(refs_.at(b) > 0, "double release of block {}", b);
    refs_[b]--;
  }

  int bs_, nv_, ctx_, window_;
  mutable std::mutex mu_;
  std::vector<std::vector<int32_t>> blocks_;
  std::vector<int> refs_;
  std::map<int32_t, Seq> seqs_;
  int32_t next_seq_ = 0;
};

inline int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Collects one greedy request's tokens and result from the engine thread.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int32_t> tokens;
  GenResult result;
  bool done = false;
  std::function<bool(int32_t)> gate;  // optional: runs before accepting each token

  GenRequest request(std::vector<int32_t> prompt, int max_tokens, int32_t end_token = -1, SpecOptions spec = {}) {
    GenRequest r;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.spec = spec;
    r.sample = [](std::span<const float> l, int32_t) { return argmax(l); };
    r.is_end = [end_token](int32_t t) { return t == end_token; };
    r.on_token = [this](int32_t t) {
      if (gate && !gate(t)) return false;
      std::lock_guard lk(mu);
      tokens.push_back(t);
      return true;
    };
    r.on_done = [this](const GenResult& res) {
      std::lock_guard lk(mu);
      result = res;
      done = true;
      cv.notify_all();
    };
    return r;
  }
  void wait() {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(20), [&] { return done; }));
  }
};

}  // namespace edgerag::test
