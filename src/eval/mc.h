// Reasoning / knowledge benchmarks scored the way lm-evaluation-harness scores
// them, so a user's HellaSwag / ARC / PIQA / BoolQ / MMLU / GSM8K files give
// comparable numbers:
//  - multiple choice: every choice's continuation log-likelihood given the
//    (few-shot) context; acc = argmax of the sum, acc_norm = argmax of the sum
//    divided by the choice's length in characters;
//  - generation (GSM8K shape): greedy answer, exact match of the final number
//    ("#### N" strict, last number in the output flexible).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "util/thread_pool.h"

namespace edgerag {

struct McItem {
  std::string context;               // "Question: ...\nAnswer:" or the raw text to continue (HellaSwag "ctx")
  std::vector<std::string> choices;  // empty = generation item
  int answer = -1;                   // index into choices
  std::string target;                // generation items: the gold answer text
};

// JSONL, one item a line: {"question" | "query" | "ctx" | "context", "choices" | "endings",
// "answer" | "label": index, letter "A".. or bool (false = 0)} for multiple choice, or
// {"question", "answer": "... #### 42"} for generation. At most max_items (0 = all).
std::vector<McItem> load_mc(const std::string& path, size_t max_items = 0);

// Index of the best choice by summed log-likelihood and by log-likelihood per character.
struct McPick {
  int acc = 0, acc_norm = 0;
};
McPick mc_pick(const std::vector<double>& loglik, const std::vector<std::string>& choices);

// GSM8K answers: the number after "####" (strict; empty if none) and the last
// number in the text (flexible), commas and a trailing period removed.
std::string gsm8k_strict(std::string_view text);
std::string gsm8k_flexible(std::string_view text);

struct McOptions {
  int num_fewshot = 0;            // examples prepended to every context ("\n\n" between)
  int max_new_tokens = 128;       // generation items
  KvType kv_type = default_kv_type();
};

struct McResult {
  int n_mc = 0, n_gen = 0, skipped = 0;  // skipped: longer than the model's context
  double acc = 0, acc_norm = 0;           // over the multiple-choice items
  double em_strict = 0, em_flexible = 0;  // over the generation items
  double seconds = 0;
};

// Summed log-likelihood of each continuation after the context, one sequence per
// continuation in one forward pass (the harness's split: continuation tokens =
// tokens of context + continuation past the context's tokens). Empty if it does not fit.
std::vector<double> continuation_loglik(const Model& model, const std::string& context,
                                        const std::vector<std::string>& continuations, KvType kv_type,
                                        ThreadPool* pool);

// Few-shot examples come from `fewshot` (the first num_fewshot items); none when it is empty.
McResult eval_mc(const Model& model, const std::vector<McItem>& items, const std::vector<McItem>& fewshot,
                 const McOptions& opt, ThreadPool* pool);

}  // namespace edgerag
