#include "eval/qa_rag.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_paths.h"
#include "util/error.h"

using namespace edgerag;

TEST(QaRag, AnswerContainsWholeNormalizedWords) {
  EXPECT_TRUE(answer_contains("It was a big, red ball! [1]", {"a big red ball"}));
  EXPECT_TRUE(answer_contains("Max said hello.", {"nobody", "Max"}));
  EXPECT_FALSE(answer_contains("Maximilian said hello.", {"Max"}));  // whole words only
  EXPECT_FALSE(answer_contains("anything", {"", "the"}));            // empty after normalization
}

// Through the answer engine on the three hand-written questions: extractive
// answers without an LLM, generated ones with stories260K. The calibration is the
// reliability table of the engine's own confidences against the outcomes.
TEST(QaRag, AnswerEngineConfidenceIsCalibratedAgainstOutcomes) {
  const auto items = load_qa(test::tests_path("eval/data/qa_tiny_squad.json"));
  ASSERT_EQ(items.size(), 3u);
  for (const std::string& llm : {std::string(), test::model_path("stories260K.gguf")}) {
    QaRagOptions opt;
    opt.llm = llm;
    opt.bins = 4;
    opt.max_prompt_tokens = 400;  // stories260K's context is 512
    const QaRagResult r = eval_qa_rag(items, opt);
    ASSERT_EQ(r.n, 3);
    ASSERT_EQ(r.items.size(), 3u);
    std::vector<double> conf;
    std::vector<bool> correct;
    double acc = 0;
    for (const auto& i : r.items) {
      EXPECT_GE(i.confidence, 0.0);
      EXPECT_LE(i.confidence, 1.0);
      EXPECT_GE(i.f1, i.em);
      conf.push_back(i.confidence);
      correct.push_back(i.correct);
      acc += i.correct;
    }
    EXPECT_NEAR(r.accuracy, acc / 3, 1e-12);
    const Reliability want = reliability(conf, correct, 4);
    EXPECT_NEAR(r.calibration.ece, want.ece, 1e-12);
    ASSERT_EQ(r.calibration.bins.size(), 4u);
    int n = 0;
    for (const auto& b : r.calibration.bins) n += b.n;
    EXPECT_EQ(n, 3);
    EXPECT_NE(reliability_text(r.calibration).find("ECE "), std::string::npos);
  }
  // NQ-open style items have no passages to index.
  QaItem closed;
  closed.question = "Who?";
  closed.answers = {"x"};
  EXPECT_THROW(eval_qa_rag({closed}, {}), Error);
}

// --stages: each adaptive stage against the pass with all off. Routing to the
// same model as the large one must change nothing; every figure is a share or
// a mean of the per-question scores.
TEST(QaRag, StagesReportAnswerQualityOffAndOn) {
  const auto items = load_qa(test::tests_path("eval/data/qa_tiny_squad.json"));
  QaRagOptions opt;
  opt.llm = opt.llm_small = test::model_path("stories260K.gguf");
  opt.embed = test::model_path("synth-bert-embed.gguf");
  opt.max_prompt_tokens = 400;
  opt.max_answer_tokens = 8;
  opt.threads = 1;
  opt.stages = true;
  const QaRagResult r = eval_qa_rag(items, opt);
  ASSERT_EQ(r.stages.size(), 3u);
  EXPECT_EQ(r.stages[0].stage, "hyde");
  EXPECT_EQ(r.stages[1].stage, "route");
  EXPECT_EQ(r.stages[2].stage, "context");
  for (const auto& s : r.stages) {
    EXPECT_DOUBLE_EQ(s.f1_off, r.f1) << s.stage;
    EXPECT_DOUBLE_EQ(s.em_off, r.em) << s.stage;
    EXPECT_GE(s.f1_on, 0.0);
    EXPECT_LE(s.f1_on, 1.0);
    EXPECT_GT(s.ms_per_question_on, 0.0);
    EXPECT_LE(s.helped_share + s.hurt_share, 1.0);
    for (double share : {s.helped_share, s.hurt_share}) EXPECT_DOUBLE_EQ(std::round(share * 3), share * 3);
  }
  const QaStageResult& route = r.stages[1];
  EXPECT_DOUBLE_EQ(route.f1_on, route.f1_off);
  EXPECT_DOUBLE_EQ(route.helped_share + route.hurt_share, 0.0);
  EXPECT_NE(stages_text(r.stages).find("context"), std::string::npos);
  opt.llm.clear();
  EXPECT_THROW(eval_qa_rag(items, opt), Error);  // a small LLM without a large one
}
