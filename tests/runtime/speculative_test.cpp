// Speculative decoding on the real decoder (stories260K): greedy output with
// drafts equals plain token-by-token generation (Generator), alone and in a
// batch mixed with plain requests, and the KV pool is empty afterwards. Also
// the prompt-lookup drafter and the flag parser on their own.
#include <gtest/gtest.h>

#include <list>
#include <thread>

#include "runtime/generator.h"
#include "runtime/scheduler_decoder.h"
#include "runtime/scheduler_fake_model.h"
#include "runtime/speculative.h"
#include "test_paths.h"
#include "util/error.h"

namespace edgerag {
namespace {

TEST(LookupDraft, ProposesWhatFollowedTheLatestMatch) {
  // "5 6" occurred twice; the latest occurrence is followed by 9 8 7.
  const std::vector<int32_t> h{5, 6, 1, 2, 3, 5, 6, 9, 8, 7, 4, 5, 6};
  EXPECT_EQ(lookup_draft(h, 4), (std::vector<int32_t>{9, 8, 7, 4}));
  EXPECT_EQ(lookup_draft(h, 2), (std::vector<int32_t>{9, 8}));
  // The trigram "4 5 6" is preferred over the bigram when it matches.
  const std::vector<int32_t> t{4, 5, 6, 1, 5, 6, 2, 4, 5, 6};
  EXPECT_EQ(lookup_draft(t, 1), (std::vector<int32_t>{1}));
  EXPECT_TRUE(lookup_draft(std::vector<int32_t>{1, 2, 3, 4}, 8).empty());  // no repeated bigram
}

TEST(DraftPacer, GrowsShrinksAndPausesAfterMisses) {
  DraftPacer d(6);
  EXPECT_EQ(d.next(8), 4);
  EXPECT_EQ(d.next(2), 2);
  d.feedback(4, 4);
  EXPECT_EQ(d.next(8), 5);
  d.feedback(5, 2);
  EXPECT_EQ(d.next(8), 2);
  // Three drafts in a row with nothing accepted: a pause of 4 steps, then drafts again.
  for (int i = 0; i < 3; ++i) d.feedback(1, 0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(d.next(8), 0);
  EXPECT_EQ(d.next(8), 1);
  for (int i = 0; i < 3; ++i) d.feedback(1, 0);  // the next pause is twice as long
  for (int i = 0; i < 8; ++i) EXPECT_EQ(d.next(8), 0);
  EXPECT_EQ(d.next(8), 1);
}

TEST(SpeculativeFlag, ParsesEveryFormAndRejectsOthers) {
  EXPECT_EQ(parse_speculative("off", 8).mode, SpecMode::Off);
  EXPECT_EQ(parse_speculative("lookup", 3).draft_max, 3);
  const auto d = parse_speculative("draft:/m/small.gguf", 8);
  EXPECT_EQ(d.mode, SpecMode::Draft);
  EXPECT_EQ(d.draft_model, "/m/small.gguf");
  EXPECT_EQ(speculative_name(d), "draft:/m/small.gguf");
  EXPECT_EQ(resolve_auto(parse_speculative("auto", 8), 10), SpecMode::Off);
  EXPECT_EQ(resolve_auto(parse_speculative("auto", 8), 500), SpecMode::Lookup);
  EXPECT_THROW(parse_speculative("draft:", 8), Error);
  EXPECT_THROW(parse_speculative("ngram", 8), Error);
  EXPECT_THROW(parse_speculative("lookup", 0), Error);
}

struct Stories {
  explicit Stories(const std::string& file, WeightPacking packing = WeightPacking::kAuto)
      : model(Model::load(test::model_path(file), packing)) {}
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok = Tokenizer::from_gguf(model->gguf());
  ThreadPool pool{2};

  // F32 KV throughout: the stories and openings below were chosen so that
  // lookup drafts get accepted with it.
  std::vector<int32_t> greedy(const std::vector<int32_t>& prompt, int n) {
    Generator g(*model, *tok, &pool, 1024, DType::F32);
    GenerationParams p;
    p.max_tokens = n;
    p.sampling.temperature = 0;
    auto ids = g.generate_ids(prompt, p).tokens;
    if (!ids.empty() && tok->is_eog(ids.back())) ids.pop_back();
    return ids;
  }
  // A "retell" prompt: a story the model wrote, then its opening again.
  std::vector<int32_t> retell_prompt(const std::string& opening, int n_story) {
    auto ids = tok->encode(opening, true);
    const auto story = greedy(ids, n_story);
    ids.insert(ids.end(), story.begin(), story.end());
    const auto again = tok->encode("\n" + opening, false);
    ids.insert(ids.end(), again.begin(), again.end());
    return ids;
  }
};

// Lookup and plain requests decoded together in one scheduler equal plain
// generation token for token: the decoder's logits for a token do not depend
// on how many other tokens (drafts, other sequences) share the forward
// (tests/model/batch_invariance_test.cpp: bit-identical for Q4_0, plain and in
// the packed layout of tensor/repack.h; the F32 model is a few ULP off, so its
// equality here holds for these prompts, not by construction).
class Speculative : public testing::TestWithParam<std::pair<const char*, WeightPacking>> {};

TEST_P(Speculative, GreedyLookupInAMixedBatchEqualsPlainGeneration) {
  Stories s(GetParam().first, GetParam().second);
  DecoderStepModel step(*s.model, &s.pool, 4096, 1024, DType::F32);
  Scheduler sched(step, {.max_running = 4, .max_queued = 8, .step_tokens = 128, .prefill_chunk = 64,
                         .prefix_cache = false});
  const std::vector<std::string> openings{"Once upon a time", "Lily had a red ball", "The sun was hot",
                                          "Tom and his dog"};
  std::vector<std::vector<int32_t>> prompts, want;
  for (size_t i = 0; i < openings.size(); ++i) {
    prompts.push_back(s.retell_prompt(openings[i], 60 + 10 * static_cast<int>(i)));
    want.push_back(s.greedy(prompts.back(), 48));
  }
  std::list<test::Collector> cs;
  for (size_t i = 0; i < prompts.size(); ++i)
    sched.submit(cs.emplace_back().request(prompts[i], 48, 2 /* </s> */,
                                           i % 2 ? SpecOptions{} : parse_speculative("lookup", 8)));
  size_t i = 0;
  for (auto& c : cs) {
    c.wait();
    EXPECT_EQ(c.tokens, want[i]) << "request " << i;
    if (i % 2 == 0) {
      EXPECT_GT(c.result.n_accepted, 0) << "request " << i;
    }
    ++i;
  }
  for (int k = 0; k < 1000 && sched.stats().running != 0; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(step.n_blocks_free(), step.n_blocks_total());
}

// The q4_0 stories260K drafts for the F32 one (their vocabularies match): greedy
// output equals plain generation, drafts were accepted, and both KV pools end empty.
TEST(SpeculativeDraft, GreedyDraftModelEqualsPlainGeneration) {
  Stories s("stories260K.gguf");
  DecoderStepModel step(*s.model, &s.pool, 4096, 1024, DType::F32);
  auto draft = DraftModel::load(test::model_path("stories260K-q4_0-ffndown_f16.gguf"), *s.tok, "stories260K",
                                &s.pool, 4096, 1024);
  Scheduler sched(step, {.max_running = 4, .max_queued = 8, .step_tokens = 128, .prefill_chunk = 64}, draft->step.get());
  const auto prompt = s.tok->encode("Once upon a time, there was a little dog", true);
  const auto want = s.greedy(prompt, 64);
  test::Collector c;
  sched.submit(c.request(prompt, 64, 2, parse_speculative("draft:q4_0", 4)));
  c.wait();
  EXPECT_EQ(c.tokens, want);
  EXPECT_GT(c.result.n_accepted, c.result.n_drafted / 2);
  for (int k = 0; k < 1000 && sched.stats().running != 0; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(draft->step->n_blocks_free(), draft->step->n_blocks_total());
  EXPECT_EQ(step.n_blocks_free() + static_cast<int>(sched.stats().prefix_entries), step.n_blocks_total());
}

TEST(SpeculativeDraft, DraftModelWithAnotherVocabularyIsRefused) {
  Stories s("stories260K.gguf");
  try {
    DraftModel::load(test::model_path("synth-llama-f16.gguf"), *s.tok, "stories260K", &s.pool, 256, 256);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("same vocabulary"), std::string::npos) << e.what();
  }
}

std::string layout_name(const testing::TestParamInfo<std::pair<const char*, WeightPacking>>& info) {
  const char* names[] = {"F32", "Q4_0", "Q4_0Packed"};
  return names[info.index];
}

INSTANTIATE_TEST_SUITE_P(Stories, Speculative,
                         testing::Values(std::pair{"stories260K.gguf", WeightPacking::kAuto},
                                         std::pair{"stories260K-q4_0-ffndown_f16.gguf", WeightPacking::kNever},
                                         std::pair{"stories260K-q4_0-ffndown_f16.gguf", WeightPacking::kAlways}),
                         layout_name);

}  // namespace
}  // namespace edgerag
