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
