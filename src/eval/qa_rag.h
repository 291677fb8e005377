// Question answering through the answer engine (`eval qa --mode rag`): the QA
// file's passages (gold and distractors) are indexed in a throwaway index, every
// question is answered by rag::AnswerEngine (retrieval, prompt, generation or the
// extractive answer, citations, confidence), the answers are scored with SQuAD's
// EM / F1, and the engine's reported confidence is checked against the outcome
// (calibration.h): a reliability table and the expected calibration error, so
// a user can pick an abstention threshold (--min-confidence). With `stages`,
// every question is answered again with each adaptive stage forced on (HyDE,
// routing to the small LLM, context trimming), against the pass with all of
// them off: the answer-quality side of `eval adaptive`'s break-even.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "eval/calibration.h"
#include "eval/qa.h"

namespace edgerag {

struct QaRagOptions {
  std::string llm;            // resolved decoder path; empty = extractive answers
  std::string embed;          // resolved embedder path; empty = BM25 retrieval
  int threads = 0;
  int max_chunks = 5;         // chunks supplied to the answer
  int max_prompt_tokens = 3000;
  int max_answer_tokens = 32;
  int bins = 10;              // reliability bins
  std::string llm_small;      // routing's small decoder (the route stage); empty = no route stage
  bool stages = false;        // each adaptive stage off and on (QaRagResult::stages)
};

struct QaRagItem {
  std::string id;
  double confidence = 0, em = 0, f1 = 0;
  bool correct = false;  // a gold answer occurs in the (normalized) answer
};

// One adaptive stage's effect on the answers: the pass with every stage off
// against the pass with this one forced on (HyDE and routing need an LLM,
// HyDE an embedder, routing a small LLM; stages that cannot run are left out).
struct QaStageResult {
  std::string stage;  // "hyde" | "route" | "context"
  double em_off = 0, em_on = 0, f1_off = 0, f1_on = 0, accuracy_off = 0, accuracy_on = 0;
  double ms_per_question_off = 0, ms_per_question_on = 0;
  double helped_share = 0, hurt_share = 0;  // questions whose F1 went up / down
};

struct QaRagResult {
  int n = 0;
  double em = 0, f1 = 0, accuracy = 0;  // accuracy: share of items `correct`
  Reliability calibration;              // confidence against `correct`
  std::vector<QaRagItem> items;
  std::vector<QaStageResult> stages;  // with QaRagOptions::stages
  double seconds = 0;
};

// Correct for calibration: the SQuAD-normalized answer contains a normalized gold
// answer as whole words. Extractive answers are sentences, never an exact match,
// so exact match would call every one wrong.
bool answer_contains(std::string_view answer, const std::vector<std::string>& gold);

// Cited answers carry [n] markers; they are removed before scoring.
QaRagResult eval_qa_rag(const std::vector<QaItem>& items, const QaRagOptions& opt);

// {n, em, f1, accuracy, seconds, calibration:{ece, mean_confidence, accuracy,
//  bins:[{lo, hi, n, mean_confidence, accuracy}]}, items:[{id, confidence, em, f1, correct}],
//  stages:[{stage, em_off, em_on, f1_off, f1_on, accuracy_off, accuracy_on, ms_per_question_off,
//  ms_per_question_on, helped_share, hurt_share}]}
nlohmann::json to_json(const QaRagResult& r);
// The reliability table as printed by `eval qa --mode rag`.
std::string reliability_text(const Reliability& r);
// The stages' off/on table as printed by `eval qa --mode rag --stages`.
std::string stages_text(const std::vector<QaStageResult>& stages);

}  // namespace edgerag
