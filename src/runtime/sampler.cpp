#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "tensor/ops.h"
#include "util/error.h"

namespace edgerag {
namespace {

bool by_logit(const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

double nll_of(const float* logits, int32_t n_vocab, int32_t target) {
  const float mx = *std::max_element(logits, logits + n_vocab);
  double sum = 0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
  return std::log(sum) - (logits[target] - mx);
}

void TokenProbability::add(const float* logits, int32_t n_vocab, int32_t token) {
  add_nll(log_sum_exp(logits, n_vocab) - logits[token]);
}

std::optional<double> TokenProbability::mean() const {
  if (n_ == 0) return std::nullopt;
  return std::exp(-sum_nll_ / static_cast<double>(n_));
}

int32_t argmax(const float* logits, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

void apply_repetition_penalty(std::vector<Candidate>& c, const std::deque<int32_t>& history, float penalty) {
  if (penalty == 1.0f || history.empty()) return;
  const std::unordered_set<int32_t> seen(history.begin(), history.end());
  // Same rule as llama.cpp: positive logits are divided, negative multiplied.
  for (auto& x : c)
    if (seen.count(x.id)) x.logit = x.logit > 0 ? x.logit / penalty : x.logit * penalty;
}

void apply_top_k(std::vector<Candidate>& c, int32_t k) {
  if (k <= 0 || static_cast<size_t>(k) >= c.size()) {
    std::sort(c.begin(), c.end(), by_logit);
    return;
  }
  std::partial_sort(c.begin(), c.begin() + k, c.end(), by_logit);
  c.resize(k);
}

void softmax_candidates(std::vector<Candidate>& c) {
  if (c.empty()) return;
  float mx = -INFINITY;
  for (const auto& x : c) mx = std::max(mx, x.logit);
  double sum = 0;
  for (auto& x : c) sum += (x.p = std::exp(x.logit - mx));
  for (auto& x : c) x.p = static_cast<float>(x.p / sum);
}

void apply_top_p(std::vector<Candidate>& c, float p) {
  if (p >= 1.0f || c.empty()) return;
  std::sort(c.begin(), c.end(), by_logit);
  softmax_candidates(c);
  double cum = 0;
  size_t keep = c.size();
  for (size_t i = 0; i < c.size(); ++i) {
    cum += c[i].p;
    if (cum >= p) {
      keep = i + 1;
      break;
    }
  }
  c.resize(keep);
}

void apply_min_p(std::vector<Candidate>& c, float p) {
  if (p <= 0.0f || c.empty()) return;
  std::sort(c.begin(), c.end(), by_logit);
  // p_i >= p * p_max  <=>  logit_i >= logit_max + log(p)
  const float threshold = c.front().logit + std::log(p);
  size_t keep = 1;
  while (keep < c.size() && c[keep].logit >= threshold) ++keep;
  c.resize(keep);
}

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {  // xoshiro256**
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
  EDGERAG_CHECK(std::isfinite(params.temperature), "sampler: temperature must be finite");
  EDGERAG_CHECK(params.top_p > 0.0f, "sampler: top-p must be > 0 (got {})", params.top_p);
  EDGERAG_CHECK(params.min_p <= 1.0f, "sampler: min-p must be <= 1 (got {})", params.min_p);
  EDGERAG_CHECK(params.repeat_penalty > 0.0f, "sampler: repeat penalty must be > 0 (got {})", params.repeat_penalty);
  EDGERAG_CHECK(params.repeat_last_n >= 0, "sampler: repeat-last-n must be >= 0");
}

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  history_.push_back(token);
  while (history_.size() > static_cast<size_t>(params_.repeat_last_n)) history_.pop_front();
}

void Sampler::reset() {
  history_.clear();
  rng_ = Rng(params_.seed);
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab, int32_t draft) {
  EDGERAG_CHECK(n_vocab > 0, "sampler: empty logits");
  EDGERAG_CHECK(draft < n_vocab, "sampler: draft token {} outside the vocabulary of {}", draft, n_vocab);
  cand_.resize(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) cand_[i] = {i, logits[i], 0.0f};
  apply_repetition_penalty(cand_, history_, params_.repeat_penalty);
  if (params_.temperature <= 0.0f) {
    return std::min_element(cand_.begin(), cand_.end(), by_logit)->id;
  }
  apply_top_k(cand_, params_.top_k);
  apply_top_p(cand_, params_.top_p);
  apply_min_p(cand_, params_.min_p);
  for (auto& c : cand_) c.logit /= params_.temperature;
  softmax_candidates(cand_);
  double total = 1;
  if (draft >= 0) {
    auto it = std::find_if(cand_.begin(), cand_.end(), [&](const Candidate& c) { return c.id == draft; });
    if (it != cand_.end()) {  // a draft cut by top-k/top-p/min-p has p = 0: always rejected
      if (rng_.uniform() < it->p) return draft;
      total -= it->p;
      cand_.erase(it);
      if (cand_.empty() || total <= 0) return draft;  // p(draft) = 1 up to rounding
    }
  }
  const double u = rng_.uniform() * total;
  double cum = 0;
  for (const auto& c : cand_) {
    cum += c.p;
    if (u < cum) return c.id;
  }
  return cand_.back().id;
}

}  // namespace edgerag
