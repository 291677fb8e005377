// Batched forward invariants: token-by-token == whole prompt, sequences batched
// together == each alone, hooks, input validation and load errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "decoder_golden.h"
#include "model/model.h"
#include "test_compare.h"
#include "util/error.h"

namespace edgerag {
namespace {

using test::max_abs_diff;

std::vector<int32_t> long_prompt(const std::string& model) {
  return test::golden_run(test::golden_runs(), model).prompts[3].ids;
}

class ForwardF32 : public ::testing::TestWithParam<const char*> {};

TEST_P(ForwardF32, TokenByTokenEqualsBatched) {
  auto m = Model::load(test::model_path(std::string(GetParam()) + ".gguf"));
  const auto ids = long_prompt(GetParam());
  const int32_t V = m->hparams().n_vocab;
  ThreadPool pool(2);
  auto c1 = m->make_cache(256);
  Batch all;
  for (size_t i = 0; i < ids.size(); ++i) all.add(ids[i], static_cast<int32_t>(i), 0, true);
  const Logits batched = m->forward(all, *c1, &pool);
  auto c2 = m->make_cache(256);
  float worst = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    Batch one;
    one.add(ids[i], static_cast<int32_t>(i), 0, true);
    const Logits l = m->forward(one, *c2, nullptr);
    worst = std::max(worst, max_abs_diff(l.row(0), batched.row(static_cast<int32_t>(i)), V));
  }
  std::printf("%s: token-by-token vs batched max |diff| %.3g over %zu tokens\n", GetParam(), worst, ids.size());
  EXPECT_LE(worst, 1e-4f);
  EXPECT_EQ(c2->seq_len(0), static_cast<int32_t>(ids.size()));
}

TEST_P(ForwardF32, SequencesBatchedTogetherEqualEachAlone) {
  auto m = Model::load(test::model_path(std::string(GetParam()) + ".gguf"));
  const auto runs = test::golden_runs();
  const auto& run = test::golden_run(runs, GetParam());
  const auto& a = run.prompts[3].ids;
  const auto& b = run.prompts[1].ids;
  const int32_t V = m->hparams().n_vocab;
  ThreadPool pool(2);
  auto alone = [&](const std::vector<int32_t>& ids) {
    auto c = m->make_cache(128);
    Batch batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.add(ids[i], static_cast<int32_t>(i), 0, true);
    return m->forward(batch, *c, &pool);
  };
  const Logits la = alone(a), lb = alone(b);
  // Interleave the two sequences (ids 5 and 9) in one batch; only some tokens want logits.
  auto c = m->make_cache(256);
  Batch mixed;
  std::vector<std::pair<int, size_t>> order;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < a.size()) mixed.add(a[i], static_cast<int32_t>(i), 5, true), order.push_back({0, i});
    if (i < b.size()) mixed.add(b[i], static_cast<int32_t>(i), 9, i + 1 == b.size()), order.push_back({1, i});
  }
  const Logits lm = m->forward(mixed, *c, &pool);
  EXPECT_EQ(lm.n_rows(), static_cast<int32_t>(a.size()) + 1);
  float worst = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const auto [which, i] = order[k];
    if (lm.row_of[k] < 0) continue;
    const float* ref = which == 0 ? la.row(static_cast<int32_t>(i)) : lb.row(static_cast<int32_t>(i));
    worst = std::max(worst, max_abs_diff(lm.for_token(k), ref, V));
  }
  EXPECT_LE(worst, 1e-4f);
  EXPECT_THROW(lm.for_token(1), Error);  // b's first token did not ask for logits
  // Continue both sequences with one decode step each.
  Batch step;
  step.add(7, static_cast<int32_t>(a.size()), 5, true);
  step.add(7, static_cast<int32_t>(b.size()), 9, true);
  const Logits ls = m->forward(step, *c, &pool);
  auto cb = m->make_cache(64);
  Batch bb;
  for (size_t i = 0; i < b.size(); ++i) bb.add(b[i], static_cast<int32_t>(i), 0, false);
  bb.add(7, static_cast<int32_t>(b.size()), 0, true);
  EXPECT_LE(max_abs_diff(ls.row(1), m->forward(bb, *cb, nullptr).row(0), V), 1e-4f);
  const int32_t used = c->n_blocks() - c->n_free_blocks();
  EXPECT_GT(used, 0);
  c->free_sequence(5);
  c->free_sequence(9);
  EXPECT_EQ(c->n_free_blocks(), c->n_blocks());
}

INSTANTIATE_TEST_SUITE_P(Models, ForwardF32, ::testing::Values("stories260K", "synth-qwen3"),
                         [](const auto& info) { return std::string(info.param) == "stories260K" ? "stories260K"
                                                                                                : "synth_qwen3"; });

TEST(Forward, F16KvCacheStaysClose) {
  auto m = Model::load(test::model_path("synth-qwen3.gguf"));
  const auto ids = long_prompt("synth-qwen3");
  Batch b;
  for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], static_cast<int32_t>(i), 0, true);
  auto c32 = m->make_cache(64);
  auto c16 = m->make_cache(64, DType::F16);
  const Logits l32 = m->forward(b, *c32, nullptr), l16 = m->forward(b, *c16, nullptr);
  const float d = max_abs_diff(l32.data.data(), l16.data.data(), static_cast<int64_t>(l32.data.size()));
  EXPECT_GT(d, 0.0f);
  EXPECT_LE(d, 0.05f);
}

TEST(Forward, RejectsBadBatchesAndExhaustion) {
  auto m = Model::load(test::model_path("stories260K.gguf"));
  auto c = m->make_cache(16);
  Batch gap;
  gap.add(1, 1, 0, true);  // sequence starts at 0
  EXPECT_THROW(m->forward(gap, *c, nullptr), Error);
  Batch bad_id;
  bad_id.add(100000, 0, 0, true);
  EXPECT_THROW(m->forward(bad_id, *c, nullptr), Error);
  EXPECT_THROW(m->forward(Batch{}, *c, nullptr), Error);
  Batch big;
  for (int32_t i = 0; i < 17; ++i) big.add(1, i, 0, false);
  try {
    m->forward(big, *c, nullptr);
    FAIL() << "expected exhaustion";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache exhausted"), std::string::npos);
  }
  EXPECT_EQ(c->seq_len(0), 0);
  EXPECT_EQ(c->n_free_blocks(), c->n_blocks());
}

TEST(Forward, HooksSeeLinearInputsAndAttentionWeights) {
  auto m = Model::load(test::model_path("stories260K.gguf"));
  const auto& hp = m->hparams();
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378};
  Batch b;
  for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], static_cast<int32_t>(i), 0, i + 1 == ids.size());
  std::vector<std::string> names;
  std::set<int32_t> layers;
  ForwardHooks hooks;
  hooks.on_linear_input = [&](int32_t layer, const std::string& name, const float* rows, int64_t n, int64_t cols) {
    names.push_back(name);
    layers.insert(layer);
    EXPECT_EQ(n, name == "output.weight" ? 1 : 5);
    EXPECT_EQ(cols, name.find("ffn_down") != std::string::npos ? hp.n_ff : hp.n_embd);
    EXPECT_TRUE(std::isfinite(rows[0]));
  };
  AttentionCapture cap;
  cap.batch_index = {0, 4};
  hooks.attention = &cap;
  auto c = m->make_cache(16);
  const Logits with = m->forward(b, *c, nullptr, &hooks);
  EXPECT_EQ(names.size(), static_cast<size_t>(hp.n_layer) * 7 + 1);
  EXPECT_EQ(names[0], "blk.0.attn_q.weight");
  EXPECT_EQ(names[6], "blk.0.ffn_down.weight");
  EXPECT_EQ(names.back(), "output.weight");
  EXPECT_EQ(*layers.begin(), -1);
  ASSERT_EQ(cap.weights.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    ASSERT_EQ(cap.weights[k].size(), static_cast<size_t>(hp.n_layer));
    for (const auto& per_head : cap.weights[k]) {
      ASSERT_EQ(per_head.size(), static_cast<size_t>(hp.n_head));
      for (const auto& w : per_head) {
        ASSERT_EQ(w.size(), k == 0 ? 1u : 5u);
        EXPECT_NEAR(std::accumulate(w.begin(), w.end(), 0.0), 1.0, 1e-5);
      }
    }
  }
  // Hooks do not change the result.
  auto c2 = m->make_cache(16);
  const Logits without = m->forward(b, *c2, nullptr);
  EXPECT_EQ(max_abs_diff(with.row(0), without.row(0), hp.n_vocab), 0.0f);
}

// Rewrites stories260K with one change: another architecture name, a tensor
// left out, linear RoPE scaling or per-pair RoPE frequency factors added.
std::string rewritten(const std::string& arch, const std::string& drop, float linear_factor = 0,
                      float rope_factor = 0) {
  auto src = GgufFile::open(test::model_path("stories260K.gguf"));
  GgufWriter w;
  if (!arch.empty()) {
    w.set_string("general.architecture", arch);
  }
  if (linear_factor > 0) {
    w.set_string("llama.rope.scaling.type", "linear");
    w.set_f32("llama.rope.scaling.factor", linear_factor);
  }
  if (rope_factor > 0) {
    const std::vector<float> f(4, rope_factor);  // n_rot / 2 = 4
    w.add_tensor("rope_freqs.weight", DType::F32, {4}, f.data(), f.size() * sizeof(float));
  }
  w.copy_metadata(*src);
  for (const auto& t : src->tensors()) {
    if (t.name == drop) continue;
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.data, t.nbytes);
  }
  const std::string path = ::testing::TempDir() + "/dec_" + arch + drop + std::to_string(linear_factor) +
                           std::to_string(rope_factor) + ".gguf";
  w.write(path);
  return path;
}

TEST(Forward, LoadErrorsNameTheProblem) {
  try {
    Model::load(rewritten("gptx", ""));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported architecture 'gptx'"), std::string::npos) << e.what();
  }
  try {
    Model::load(rewritten("", "blk.2.ffn_up.weight"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.2.ffn_up.weight"), std::string::npos) << e.what();
  }
  // The untouched rewrite loads (the writer round trip itself is fine).
  EXPECT_NO_THROW(Model::load(rewritten("", "none")));
}

// Frequency factors f divide every angle: all-ones changes nothing, all-2 equals
// linear scaling by 2 (an independent code path).
TEST(Forward, RopeFrequencyFactorsMatchLinearScaling) {
  const std::vector<int32_t> ids = long_prompt("stories260K");
  auto logits = [&](const std::string& path) {
    auto m = Model::load(path);
    auto c = m->make_cache(128);
    Batch b;
    for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], static_cast<int32_t>(i), 0, true);
    return m->forward(b, *c, nullptr).data;
  };
  const auto base = logits(test::model_path("stories260K.gguf"));
  const auto ones = logits(rewritten("", "none", 0, 1.0f));
  EXPECT_LE(max_abs_diff(base.data(), ones.data(), static_cast<int64_t>(base.size())), 1e-4f);
  const auto linear2 = logits(rewritten("", "none", 2.0f, 0));
  const auto factors2 = logits(rewritten("", "none", 0, 2.0f));
  EXPECT_GT(max_abs_diff(base.data(), linear2.data(), static_cast<int64_t>(base.size())), 0.1f);
  EXPECT_LE(max_abs_diff(linear2.data(), factors2.data(), static_cast<int64_t>(base.size())), 1e-4f);
}

}  // namespace
}  // namespace edgerag
