#include "eval/mc.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using namespace edgerag;

namespace {

const std::string kTiny = test::tests_path("eval/data/mc_tiny.jsonl");

std::string write_tmp(const std::string& name, const std::string& text) {
  const auto p = std::filesystem::temp_directory_path() / name;
  std::ofstream(p) << text;
  return p.string();
}

// Reference: one sequence per forward pass, logits at every position, log-softmax in long double.
double reference_loglik(const Model& model, const std::string& context, const std::string& cont) {
  auto tok = Tokenizer::from_gguf(model.gguf());
  const auto ctx = tok->encode(context, true);
  const auto all = tok->encode(context + cont, true);
  auto cache = model.make_cache(static_cast<int64_t>(all.size()));
  Batch b;
  for (size_t i = 0; i < all.size(); ++i) b.add(all[i], static_cast<int32_t>(i), 0, true);
  const Logits lg = model.forward(b, *cache, nullptr);
  double ll = 0;
  for (size_t i = ctx.size() - 1; i + 1 < all.size(); ++i) {
    const float* row = lg.for_token(i);
    long double z = 0;
    for (int32_t v = 0; v < lg.n_vocab; ++v) z += std::exp(static_cast<long double>(row[v]));
    ll += static_cast<double>(row[all[i + 1]] - std::log(z));
  }
  return ll;
}

}  // namespace

TEST(Mc, LoadsTheHarnessShapes) {
  const auto items = load_mc(kTiny);
  ASSERT_EQ(items.size(), 5u);
  EXPECT_EQ(items[0].context, "Once upon a time, there was a little");  // HellaSwag: ctx as is
  EXPECT_EQ(items[0].answer, 0);                                         // label "0"
  EXPECT_EQ(items[1].answer, 1);
  EXPECT_EQ(items[2].context, "Question: What did the little dog like to do?\nAnswer:");
  EXPECT_EQ(items[2].choices.size(), 2u);  // ARC {"text": [...]}, answerKey "A"
  EXPECT_EQ(items[2].answer, 0);
  EXPECT_EQ(items[3].context, "The sun was hot and bright.\nQuestion: is the sun hot\nAnswer:");
  EXPECT_EQ(items[3].choices, (std::vector<std::string>{"no", "yes"}));  // BoolQ
  EXPECT_EQ(items[3].answer, 1);
  EXPECT_TRUE(items[4].choices.empty());  // GSM8K: generation
  EXPECT_EQ(items[4].target, "2 + 1 = 3\n#### 3");
  EXPECT_EQ(load_mc(kTiny, 2).size(), 2u);
}

TEST(Mc, RejectsBrokenItemsWithTheLine) {
  const auto bad_answer = write_tmp("mc_bad_answer.jsonl", "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}\n");
  try {
    load_mc(bad_answer);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(":2:"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_mc(write_tmp("mc_one.jsonl", R"({"question": "q", "choices": ["a"], "answer": 0})")), Error);
  EXPECT_THROW(load_mc(write_tmp("mc_noq.jsonl", R"({"choices": ["a", "b"], "answer": 0})")), Error);
  EXPECT_THROW(load_mc(write_tmp("mc_json.jsonl", "{not json")), Error);
  EXPECT_THROW(load_mc("/nonexistent.jsonl"), Error);
  // Hostile nesting is refused before the JSON parser sees it.
  EXPECT_THROW(load_mc(write_tmp("mc_deep.jsonl", std::string(1000000, '['))), Error);
}

TEST(Mc, PicksBySumAndByLengthNormalisedSum) {
  // Sums -6 and -8: the first wins; per character -6/2 = -3 and -8/8 = -1: the second.
  const McPick p = mc_pick({-6.0, -8.0}, {"ab", "abcdefgh"});
  EXPECT_EQ(p.acc, 0);
  EXPECT_EQ(p.acc_norm, 1);
  // Characters, not bytes: "éé" is 2 (-1 per character, 4 bytes would give -0.5), "abcd" -0.75.
  EXPECT_EQ(mc_pick({-2.0, -3.0}, {"\xc3\xa9\xc3\xa9", "abcd"}).acc_norm, 1);
}

TEST(Mc, Gsm8kAnswerExtraction) {
  EXPECT_EQ(gsm8k_strict("She pays 2 * 3 = 6 dollars.\n#### 1,234"), "1234");
  EXPECT_EQ(gsm8k_strict("#### -5."), "-5");
  EXPECT_EQ(gsm8k_strict("the answer is 7"), "");
  EXPECT_EQ(gsm8k_strict("#### about 7"), "");
  EXPECT_EQ(gsm8k_flexible("3 apples plus 4 is 7."), "7");
  EXPECT_EQ(gsm8k_flexible("costs 2.50 and 1,000"), "1000");
  EXPECT_EQ(gsm8k_flexible("no number"), "");
}

TEST(Mc, ContinuationLoglikMatchesOneSequenceReference) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  const std::string ctx = "Once upon a time, there was a little";
  const std::vector<std::string> conts = {" girl named Lily.", " dog.", " quantum xylophone jurisdiction."};
  const auto ll = continuation_loglik(*model, ctx, conts, DType::F32, nullptr);
  ASSERT_EQ(ll.size(), 3u);
  for (size_t i = 0; i < conts.size(); ++i) EXPECT_NEAR(ll[i], reference_loglik(*model, ctx, conts[i]), 1e-3);
  EXPECT_GT(ll[0], ll[2]);
  // Beyond stories260K's 2048-token context: not scored.
  std::string long_ctx;
  for (int i = 0; i < 500; ++i) long_ctx += "Lily and Tom played. ";
  EXPECT_TRUE(continuation_loglik(*model, long_ctx, conts, DType::F32, nullptr).empty());
}

TEST(Mc, EvaluatesTheTinySetWithFewShot) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  auto items = load_mc(kTiny);
  McOptions opt;
  opt.max_new_tokens = 16;
  const McResult r = eval_mc(*model, items, {}, opt, nullptr);
  EXPECT_EQ(r.n_mc, 4);
  EXPECT_EQ(r.n_gen, 1);
  EXPECT_EQ(r.skipped, 0);
  // The two story continuations are unmistakable even for a 260K-parameter model.
  const McResult story = eval_mc(*model, {items[0], items[1]}, {}, opt, nullptr);
  EXPECT_EQ(story.acc, 1.0);
  EXPECT_EQ(story.acc_norm, 1.0);
  opt.num_fewshot = 1;
  EXPECT_EQ(eval_mc(*model, {items[1]}, {items[0]}, opt, nullptr).n_mc, 1);
  opt.num_fewshot = 2;
  EXPECT_THROW(eval_mc(*model, {items[1]}, {items[0]}, opt, nullptr), Error);
}
