// The prefix-affinity key of a prompt: a hash of its first `tokens` token ids,
// or of its first 4 x `tokens` bytes when it has no ids (text, chat messages;
// about 4 bytes a token in English). RAG prompts start with the template, the
// system prompt and the first retrieved chunks, so prompts that share those
// share a key and a replica whose prefix cache already holds them. 0 = none
// (affinity off or an empty prompt).
#pragma once
#include <cstdint>

#include "runtime/llm_backend.h"

namespace edgerag::remote {

uint64_t prefix_key(const LlmPrompt& prompt, int tokens);

}  // namespace edgerag::remote
