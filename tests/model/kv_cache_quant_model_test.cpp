// The decoder over KIVI int8/int4 KV caches (stories260K): logits close to an
// F32 cache, the same greedy continuation, and shared prefix blocks that give
// the same logits as the sequence that computed them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "model/model.h"
#include "test_compare.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace edgerag {
namespace {

using test::max_abs_diff;

int32_t argmax(const float* x, int32_t n) { return static_cast<int32_t>(std::max_element(x, x + n) - x); }

// Prefill `prompt` then decode greedily, one token per forward; returns the
// generated ids and appends every step's logits to `logits`.
std::vector<int32_t> greedy(const Model& m, KvCache& cache, const std::vector<int32_t>& prompt, int n,
                            std::vector<float>& logits) {
  const int32_t V = m.hparams().n_vocab;
  Batch b;
  for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  Logits l = m.forward(b, cache, nullptr);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    logits.insert(logits.end(), l.row(0), l.row(0) + V);
    out.push_back(argmax(l.row(0), V));
    Batch step;
    step.add(out.back(), static_cast<int32_t>(prompt.size()) + i, 0, true);
    l = m.forward(step, cache, nullptr);
  }
  return out;
}

class KvQuantModel : public ::testing::Test {
 protected:
  void SetUp() override {
    model = Model::load(test::model_path("stories260K.gguf"));
    prompt = Tokenizer::from_gguf(model->gguf())->encode("Once upon a time", true);
  }
  std::unique_ptr<Model> model;
  std::vector<int32_t> prompt;
};

TEST_F(KvQuantModel, GreedyContinuationAndLogitsStayClose) {
  constexpr int kSteps = 60;  // crosses several 16-token blocks
  const int32_t V = model->hparams().n_vocab;
  std::vector<float> l32, l8, l4;
  auto c32 = model->make_cache(128);
  auto c8 = model->make_cache(128, KvType::kivi(8));
  auto c4 = model->make_cache(128, KvType::kivi(4));
  const auto g32 = greedy(*model, *c32, prompt, kSteps, l32);
  const auto g8 = greedy(*model, *c8, prompt, kSteps, l8);
  const auto g4 = greedy(*model, *c4, prompt, kSteps, l4);
  EXPECT_EQ(g8, g32);
  const float d8 = max_abs_diff(l8.data(), l32.data(), static_cast<int64_t>(l32.size()));
  const float d4 = max_abs_diff(l4.data(), l32.data(), static_cast<int64_t>(l32.size()));
  int agree4 = 0;
  for (int i = 0; i < kSteps; ++i) agree4 += argmax(l4.data() + i * V, V) == argmax(l32.data() + i * V, V);
  std::printf("stories260K KV int8: max |logit diff| %.4f; int4: %.4f, argmax agreement %d/%d\n", d8, d4, agree4,
              kSteps);
  // Measured: int8 0.049 (an F16 cache: 0.019), int4 0.77.
  EXPECT_GT(d8, 0.0f);
  EXPECT_LT(d8, 0.1f);
  EXPECT_LT(d4, 1.5f);
  EXPECT_GE(agree4, kSteps * 9 / 10);
  // Per cached token, the int8 pool holds a fraction of the F32 one.
  EXPECT_LT(c8->config().bytes_per_token(), 0.5 * c32->config().bytes_per_token());
}

TEST_F(KvQuantModel, BatchedPrefillEqualsTokenByToken) {
  // A query reads earlier blocks quantized and its own block in full precision,
  // however the tokens were batched.
  const int32_t V = model->hparams().n_vocab;
  std::vector<float> steps;
  auto c1 = model->make_cache(128, KvType::kivi(4));
  std::vector<int32_t> ids = prompt;
  const auto cont = greedy(*model, *c1, prompt, 50 - static_cast<int>(prompt.size()), steps);
  ids.insert(ids.end(), cont.begin(), cont.end());
  auto c2 = model->make_cache(128, KvType::kivi(4));
  Batch all;
  for (size_t i = 0; i < ids.size(); ++i) all.add(ids[i], static_cast<int32_t>(i), 0, true);
  const Logits batched = model->forward(all, *c2, nullptr);
  // steps[i] holds the logits after position prompt.size() - 1 + i.
  float worst = 0;
  for (size_t i = 0; i < cont.size(); ++i)
    worst = std::max(worst, max_abs_diff(steps.data() + i * V, batched.row(static_cast<int32_t>(prompt.size() - 1 + i)), V));
  EXPECT_LE(worst, 1e-4f);
}

TEST_F(KvQuantModel, AttachedPrefixGivesTheLogitsOfItsOwner) {
  const int32_t V = model->hparams().n_vocab;
  std::vector<float> unused;
  auto cache = model->make_cache(256, KvType::kivi(8));
  // Sequence 0: 40 tokens in two forwards (so blocks 0 and 1 are quantized when the second reads them).
  std::vector<int32_t> ids = prompt;
  const auto cont = greedy(*model, *cache, prompt, 40 - static_cast<int>(prompt.size()), unused);
  ids.insert(ids.end(), cont.begin(), cont.end());
  cache->truncate(0, 32);
  Batch tail;
  for (int32_t i = 32; i < 40; ++i) tail.add(ids[i], i, 0, true);
  const Logits owner = model->forward(tail, *cache, nullptr);
  // Sequence 1 adopts the two full blocks (as the prefix cache does) and computes the tail itself.
  const std::vector<int32_t> shared(cache->block_table(0).begin(), cache->block_table(0).begin() + 2);
  cache->attach(1, shared, 32);
  for (auto& t : tail.tokens) t.seq = 1;
  const Logits adopter = model->forward(tail, *cache, nullptr);
  EXPECT_EQ(max_abs_diff(owner.data.data(), adopter.data.data(), static_cast<int64_t>(owner.data.size())), 0.0f);
  EXPECT_EQ(cache->block_table(1)[0], shared[0]);
  EXPECT_EQ(cache->ref_count(shared[0]), 2);
  EXPECT_EQ(owner.n_vocab, V);
  cache->free_sequence(0);
  cache->free_sequence(1);
  EXPECT_EQ(cache->n_free_blocks(), cache->n_blocks());
  EXPECT_EQ(cache->staging_bytes(), 0u);
}

}  // namespace
}  // namespace edgerag
