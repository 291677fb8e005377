// Prompt assembly under a token budget: the retrieved chunks, numbered [1..n] in
// relevance order, go into the user message of a chat prompt together with the
// question. Chunks are added whole while they fit; the first one that does not
// fit is cut at the last sentence boundary that fits, and assembly stops there.
// Token counts are exact: the whole rendered prompt is tokenized at each step.
// Chunk and question text are plain text parts of the prompt: only the chat
// template's own markers can become control tokens (Tokenizer::encode_parts).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "rag/search_types.h"
#include "runtime/chat_template.h"  // ChatFormat
#include "runtime/chunk_prefill.h"  // ChunkSpan
#include "tokenizer/tokenizer.h"  // PromptPart

namespace edgerag::rag {

// Renders (system, user) into the model's chat prompt.
using ChatRenderer = std::function<std::vector<PromptPart>(const std::string& system, const std::string& user)>;
// A rendered prompt's token ids, exactly as they will be prefilled.
using PromptEncoder = std::function<std::vector<int32_t>(const std::vector<PromptPart>& parts)>;

// The system message (when not empty) and the user message in the chat format.
ChatRenderer chat_renderer(ChatFormat chat);

struct PromptBudget {
  int max_chunks = 8;
  int max_prompt_tokens = 3000;
};

struct AssembledPrompt {
  std::string text;                  // the rendered prompt's text (for display)
  std::vector<int32_t> ids;          // its token ids, ready for the generator
  std::string user_message;          // context blocks + question, before the chat template
  std::vector<SearchHit> chunks;     // what went in, numbered 1..n in this order (text as included)
  int n_tokens = 0;                  // ids.size()
  int n_context_tokens = 0;          // of which the context blocks (n_tokens minus the prompt without them)
  int n_truncated = 0;               // chunks cut at a sentence boundary (0 or 1)
  int n_dropped = 0;                 // candidates left out for the budget
};

// The first `max_chunks` distinct (by chunk id) non-empty chunks, in order.
std::vector<SearchHit> select_chunks(const std::vector<SearchHit>& ranked, int max_chunks);

// The user message: "[n] <source line>\n<text>" blocks, then the question.
std::string format_user_message(const std::vector<SearchHit>& chunks, const std::string& question);
// "file.html, p. 3, rows 10-20, Heading > Sub": the source line of a block.
std::string source_label(const Provenance& p);

// Chunks are taken from select_chunks(ranked, max_chunks) in order (callers
// pass best first). Throws edgerag::Error when even the
// question without context exceeds the budget. With isolate_chunks (chunk KV
// reuse) each chunk's text is an isolated prompt part (isolate_chunk_parts), so
// its ids are its own tokenization wherever it lands; the default keeps the
// text as one run (the ids prefix mode always had).
AssembledPrompt assemble_prompt(const std::vector<SearchHit>& ranked, const std::string& question,
                                const std::string& system, const PromptBudget& budget,
                                const ChatRenderer& render, const PromptEncoder& encode, bool isolate_chunks = false);

// Splits the rendered parts so that each chunk's text (inside its
// format_user_message block, in order) is a PromptPart of its own with
// isolated set. A block not found (a template that rewrote the text) stays as it is.
void isolate_chunk_parts(std::vector<PromptPart>& parts, const std::vector<SearchHit>& chunks);

// Token spans of the chunks' texts inside a prompt's ids, for chunk KV reuse:
// each chunk's own tokenization found in order (its first token, and then its
// last, dropped when the neighbouring text merged with them: only in a prompt
// assembled without isolate_chunks). A chunk not found, or shorter than 4
// tokens, gets no span (its tokens are computed).
std::vector<ChunkSpan> locate_chunks(const std::vector<int32_t>& ids, const std::vector<SearchHit>& chunks,
                                     const Tokenizer& tok);

// End of the prefix of `ids` (a prompt assembled with chunks) that every prompt
// shares whatever its chunks and question: where it parts from the prompt
// without context. Chunk KV is computed after it (KvReuseOptions::context_end).
int32_t chunk_context_end(const std::vector<int32_t>& ids, const std::string& system, const std::string& question,
                          const ChatRenderer& render, const PromptEncoder& encode);

}  // namespace edgerag::rag
