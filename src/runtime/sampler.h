// Token sampling: repetition penalty -> top-k -> top-p -> min-p -> temperature
// -> draw (llama.cpp's order). temperature <= 0 is greedy (lowest id on ties).
// The RNG is a seeded 64-bit generator with a fixed draw, so a seed gives the
// same tokens on every platform.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace edgerag {

struct SamplerParams {
  float temperature = 0.8f;
  int32_t top_k = 40;            // <= 0: off
  float top_p = 0.95f;           // >= 1: off
  float min_p = 0.05f;           // <= 0: off
  float repeat_penalty = 1.0f;   // 1: off
  int32_t repeat_last_n = 64;    // tokens of history the penalty looks at
  uint64_t seed = 0;
};

struct Candidate {
  int32_t id;
  float logit;
  float p;  // probability after the last softmax
};

// Building blocks (tested on their own). Candidates are kept sorted by logit
// descending after top_k/top_p/min_p.
void apply_repetition_penalty(std::vector<Candidate>& c, const std::deque<int32_t>& history, float penalty);
void apply_top_k(std::vector<Candidate>& c, int32_t k);
void apply_top_p(std::vector<Candidate>& c, float p);
void apply_min_p(std::vector<Candidate>& c, float p);
void softmax_candidates(std::vector<Candidate>& c);  // sets p from logit
int32_t argmax(const float* logits, int32_t n);  // lowest id on ties

// -log softmax(logits)[target], with max subtraction and a double sum as llama.cpp does.
double nll_of(const float* logits, int32_t n_vocab, int32_t target);

// How sure the model was of the tokens it generated: the geometric mean of
// each picked token's probability under the model's own softmax (the raw
// logits, temperature 1, before any top-k/top-p filtering; greedy included).
// An answer's confidence uses it (rag/confidence.h).
class TokenProbability {
 public:
  // Runs once per generated token over the whole vocabulary: the SIMD
  // log-sum-exp (nll_of's double loop costs ~5% of a 150k-vocab decode step).
  void add(const float* logits, int32_t n_vocab, int32_t token);
  void add_nll(double nll) {
    sum_nll_ += nll;
    ++n_;
  }
  // exp(-mean nll); none before the first token.
  std::optional<double> mean() const;

 private:
  double sum_nll_ = 0;
  int64_t n_ = 0;
};

// Deterministic RNG (splitmix64 seeding + xoshiro256**).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  double uniform();  // [0, 1)

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);
  const SamplerParams& params() const { return params_; }

  // Picks the next token from a logits row; does not record it. `draft` >= 0
  // is a token proposed for this position by a deterministic source (prompt
  // lookup, a greedy draft model): a point-mass draft distribution, so the
  // speculative-sampling rule keeps it with probability p(draft) and otherwise
  // draws from p with the draft removed and renormalised; the result is
  // distributed exactly as without a draft. Greedy returns the argmax either way.
  int32_t sample(const float* logits, int32_t n_vocab, int32_t draft = -1);
  // Records a token (prompt or generated) for the repetition penalty.
  void accept(int32_t token);
  void reset();  // clears history and reseeds

  // Everything sampling depends on besides the logits: the RNG and the
  // repetition history (to undo what a discarded speculative branch recorded).
  struct State {
    Rng rng;
    std::deque<int32_t> history;
  };
  State snapshot() const { return {rng_, history_}; }
  void restore(const State& s) {
    rng_ = s.rng;
    history_ = s.history;
  }

 private:
  SamplerParams params_;
  Rng rng_;
  std::deque<int32_t> history_;
  std::vector<Candidate> cand_;
};

}  // namespace edgerag
