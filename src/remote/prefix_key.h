// The prefix-affinity keys of a prompt: hashes of its first L token ids for
// L = `tokens`, tokens/2, tokens/4, ... down to 64 (just `tokens` below 64),
// shortest first, for each L the prompt reaches; prompts without ids are
// hashed by bytes, 4 a token (about the English average). A pool routes by the
// longest key it has seen, so prompts that share a system prompt and their
// first retrieved chunks, but differ after, still meet on one replica whose
// prefix cache holds what they share. Empty: affinity off or a short prompt.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/llm_backend.h"

namespace edgerag::remote {

std::vector<uint64_t> prefix_keys(const LlmPrompt& prompt, int tokens);

}  // namespace edgerag::remote
