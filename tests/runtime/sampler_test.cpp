// Sampler building blocks against hand-computed masks, and seeded determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "runtime/sampler.h"
#include "util/error.h"

namespace edgerag {
namespace {

std::vector<Candidate> cands(const std::vector<float>& logits) {
  std::vector<Candidate> c;
  for (size_t i = 0; i < logits.size(); ++i) c.push_back({static_cast<int32_t>(i), logits[i], 0.0f});
  return c;
}

std::vector<int32_t> ids(const std::vector<Candidate>& c) {
  std::vector<int32_t> out;
  for (const auto& x : c) out.push_back(x.id);
  return out;
}

TEST(Sampler, TopKKeepsTheKLargestLowestIdOnTies) {
  auto c = cands({1.0f, 3.0f, 2.0f, 3.0f, 0.5f});
  apply_top_k(c, 3);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3, 2}));
  auto all = cands({1.0f, 2.0f});
  apply_top_k(all, 0);  // off: sorted, nothing dropped
  EXPECT_EQ(ids(all), (std::vector<int32_t>{1, 0}));
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
  // probabilities 0.5, 0.25, 0.125, 0.125 (logits are log-probs)
  auto c = cands({std::log(0.125f), std::log(0.5f), std::log(0.25f), std::log(0.125f)});
  auto a = c;
  apply_top_p(a, 0.7f);  // 0.5 + 0.25 = 0.75 >= 0.7
  EXPECT_EQ(ids(a), (std::vector<int32_t>{1, 2}));
  auto b = c;
  apply_top_p(b, 0.5f);  // exactly reached by the first
  EXPECT_EQ(ids(b), (std::vector<int32_t>{1}));
  auto d = c;
  apply_top_p(d, 1.0f);
  EXPECT_EQ(d.size(), 4u);
}

TEST(Sampler, MinPDropsTokensBelowFractionOfTheBest) {
  // p = 0.5, 0.25, 0.125, 0.125: min_p 0.3 keeps p >= 0.15 -> two tokens
  auto c = cands({std::log(0.125f), std::log(0.5f), std::log(0.25f), std::log(0.125f)});
  apply_min_p(c, 0.3f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));
  auto all = cands({std::log(0.125f), std::log(0.5f), std::log(0.25f), std::log(0.125f)});
  apply_min_p(all, 0.25f);  // 0.125 >= 0.25 * 0.5: kept
  EXPECT_EQ(all.size(), 4u);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  auto c = cands({2.0f, -1.0f, 4.0f});
  apply_repetition_penalty(c, {0, 1, 0}, 2.0f);
  EXPECT_FLOAT_EQ(c[0].logit, 1.0f);
  EXPECT_FLOAT_EQ(c[1].logit, -2.0f);
  EXPECT_FLOAT_EQ(c[2].logit, 4.0f);
}

TEST(Sampler, GreedyAtZeroTemperatureWithPenaltyHistory) {
  SamplerParams p;
  p.temperature = 0;
  p.repeat_penalty = 4.0f;
  p.repeat_last_n = 2;
  Sampler s(p);
  const float logits[4] = {1.0f, 3.0f, 2.0f, 3.0f};
  EXPECT_EQ(s.sample(logits, 4), 1);  // tie -> lowest id
  s.accept(1);
  EXPECT_EQ(s.sample(logits, 4), 3);
  s.accept(3);
  EXPECT_EQ(s.sample(logits, 4), 2);  // 1 and 3 penalized to 0.75
  s.accept(2);                         // history window is 2: {3, 2}
  EXPECT_EQ(s.sample(logits, 4), 1);
  EXPECT_EQ(argmax(logits, 4), 1);
}

TEST(Sampler, SeededDrawsAreDeterministicAndFollowTheDistribution) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 42;
  const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  Sampler a(p), b(p);
  std::map<int32_t, int> counts;
  std::vector<int32_t> first;
  for (int i = 0; i < 20000; ++i) {
    const int32_t t = a.sample(logits.data(), 3);
    ASSERT_EQ(t, b.sample(logits.data(), 3));
    ++counts[t];
    if (i < 16) first.push_back(t);
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.6, 0.02);
  EXPECT_NEAR(counts[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(counts[2] / 20000.0, 0.1, 0.02);
  a.reset();
  std::vector<int32_t> again;
  for (int i = 0; i < 16; ++i) again.push_back(a.sample(logits.data(), 3));
  EXPECT_EQ(first, again);
  p.seed = 43;
  Sampler c(p);
  std::vector<int32_t> other;
  for (int i = 0; i < 16; ++i) other.push_back(c.sample(logits.data(), 3));
  EXPECT_NE(first, other);
}

TEST(Sampler, TopKOneIsGreedyAndBadParamsThrow) {
  SamplerParams p;
  p.top_k = 1;
  p.temperature = 5.0f;
  Sampler s(p);
  const float logits[3] = {0.1f, 0.3f, 0.2f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits, 3), 1);
  SamplerParams bad;
  bad.top_p = 0.0f;
  EXPECT_THROW(Sampler{bad}, Error);
  bad = {};
  bad.repeat_penalty = 0.0f;
  EXPECT_THROW(Sampler{bad}, Error);
}

TEST(Sampler, RngIsReproducible) {
  Rng a(7), b(7);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.next(), b.next());
  Rng c(7);
  for (int i = 0; i < 1000; ++i) {
    const double u = c.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

// Speculative sampling with deterministic drafts leaves the output distribution
// unchanged: two tokens drawn position by position as the scheduler verifies
// them (a draft at each position, the second only while the first was accepted)
// follow p(t1) p(t2 | t1) computed here by hand from the same filters. One
// draft is a token top-k removes, which must never come out.
TEST(Sampler, DraftVerificationKeepsTheJointDistribution) {
  SamplerParams sp;
  sp.temperature = 0.7f;
  sp.top_k = 3;
  sp.top_p = 1.0f;
  sp.min_p = 0.0f;
  sp.seed = 11;
  const float first[4] = {1.0f, 0.2f, 0.9f, -0.5f};
  const float second[4][4] = {{0.3f, 1.1f, 0.0f, -2.0f},
                              {2.0f, 0.1f, 0.5f, 0.4f},
                              {0.0f, 0.2f, 0.1f, 3.0f},
                              {1.0f, 1.0f, 1.0f, 1.0f}};
  // Top-3 at temperature 0.7, lowest id on ties; an id outside the top 3 has p = 0.
  auto probs = [&](const float* l) {
    std::vector<int> order{0, 1, 2, 3};
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
    std::vector<double> p(4, 0.0);
    double z = 0;
    for (int i = 0; i < 3; ++i) z += std::exp(l[order[i]] / 0.7);
    for (int i = 0; i < 3; ++i) p[order[i]] = std::exp(l[order[i]] / 0.7) / z;
    return p;
  };
  const int32_t d1 = 2, d2 = 3;  // d2 is cut by top-k after t1 = 1
  Sampler s(sp);
  const int n = 100000;
  std::vector<int> count(16, 0);
  int accepted = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t t1 = s.sample(first, 4, d1);
    const int32_t t2 = s.sample(second[t1], 4, t1 == d1 ? d2 : -1);
    accepted += t1 == d1;
    ++count[t1 * 4 + t2];
  }
  const auto p1 = probs(first);
  double chi2 = 0;
  for (int a = 0; a < 4; ++a) {
    const auto p2 = probs(second[a]);
    for (int b = 0; b < 4; ++b) {
      const double want = n * p1[a] * p2[b];
      if (want == 0) {
        EXPECT_EQ(count[a * 4 + b], 0) << a << "," << b;
      } else {
        chi2 += (count[a * 4 + b] - want) * (count[a * 4 + b] - want) / want;
      }
    }
  }
  // 9 non-empty cells: 8 degrees of freedom, 26.1 is the 0.001 critical value.
  EXPECT_LT(chi2, 26.1);
  EXPECT_NEAR(static_cast<double>(accepted) / n, p1[d1], 0.01);  // a draft is kept with probability p(draft)
}

TEST(Sampler, SnapshotRestoreRepeatsTheDraws) {
  SamplerParams sp;
  sp.seed = 5;
  sp.repeat_penalty = 1.5f;
  Sampler s(sp);
  const float logits[5] = {0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
  s.accept(0);
  const auto state = s.snapshot();
  std::vector<int32_t> a, b;
  for (int i = 0; i < 20; ++i) {
    a.push_back(s.sample(logits, 5));
    s.accept(a.back());
  }
  s.restore(state);
  for (int i = 0; i < 20; ++i) {
    b.push_back(s.sample(logits, 5));
    s.accept(b.back());
  }
  EXPECT_EQ(a, b);
}

// Logits {0, ln 3}: p = 1/4 and 3/4; their geometric mean is sqrt(3) / 4.
TEST(Sampler, TokenProbabilityIsTheGeometricMeanUnderTheSoftmax) {
  const float logits[2] = {0.0f, std::log(3.0f)};
  EXPECT_NEAR(nll_of(logits, 2, 1), -std::log(0.75), 1e-6);
  TokenProbability p;
  EXPECT_FALSE(p.mean().has_value());
  p.add(logits, 2, 0);
  p.add(logits, 2, 1);
  ASSERT_TRUE(p.mean().has_value());
  EXPECT_NEAR(*p.mean(), std::sqrt(3.0) / 4, 1e-6);
  const float big[2] = {1000.0f, 1000.0f};  // max subtraction: no overflow
  TokenProbability q;
  q.add(big, 2, 0);
  EXPECT_NEAR(*q.mean(), 0.5, 1e-9);
}

}  // namespace
}  // namespace edgerag
