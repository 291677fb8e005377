// Prompt assembly under a token budget: the retrieved chunks, numbered [1..n] in
// relevance order, go into the user message of a chat prompt together with the
// question. Chunks are added whole while they fit; the first one that does not
// fit is cut at the last sentence boundary that fits, and assembly stops there.
// Token counts are exact: the whole rendered prompt is tokenized at each step.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace edgerag {

// One retrieved chunk with the provenance that a citation points to.
struct ContextChunk {
  int64_t chunk_id = 0;
  std::string file;
  int page = 0;                        // 1-based page of a paged document; 0 when none
  std::string rows;                    // row range of a table document ("12-40"); empty when none
  std::vector<std::string> headings;   // heading path of the section, outermost first
  int64_t byte_start = 0, byte_end = 0;  // span of the chunk in the source file
  std::string text;
  double score = 0;                    // retrieval score (higher is better)
};

// Renders (system, user) into the model's chat prompt text; counts tokens of a text.
using ChatRenderer = std::function<std::string(const std::string& system, const std::string& user)>;
using TokenCounter = std::function<size_t(std::string_view text)>;

struct PromptBudget {
  int max_chunks = 8;
  int max_prompt_tokens = 3000;
};

struct AssembledPrompt {
  std::string text;                  // the rendered prompt, ready for the generator
  std::string user_message;          // context blocks + question, before the chat template
  std::vector<ContextChunk> chunks;  // what went in, numbered 1..n in this order (text as included)
  int n_tokens = 0;                  // tokens of `text`
  int n_truncated = 0;               // chunks cut at a sentence boundary (0 or 1)
  int n_dropped = 0;                 // candidates left out for the budget
};

// The user message: "[n] <source line>\n<text>" blocks, then the question.
std::string format_user_message(const std::vector<ContextChunk>& chunks, const std::string& question);
// "file, p. 3, rows 10-20, Heading > Sub" — the source line of a block.
std::string source_label(const ContextChunk& c);

// Chunks are taken in the given order (callers pass best first). Throws
// edgerag::Error when even the question without context exceeds the budget.
AssembledPrompt assemble_prompt(const std::vector<ContextChunk>& ranked, const std::string& question,
                                const std::string& system, const PromptBudget& budget,
                                const ChatRenderer& render, const TokenCounter& count);

}  // namespace edgerag
