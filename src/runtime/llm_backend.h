// What the RAG pipeline and the server's OpenAI endpoints generate through: an
// LLM at the level of prompts and generation parameters, streaming text pieces
// back and reporting usage and timings at the end. Implementations: LocalLlm
// (runtime/local_llm.h, the batching scheduler over a GGUF decoder) and the
// remote OpenAI-compatible pool (remote/remote_llm.h). The generation policy
// (end tokens, control tokens, stop strings, limits) is runtime/token_policy.h
// for local decoding; a remote server applies the same parameters itself.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/chat_template.h"
#include "runtime/sampler.h"
#include "runtime/chunk_prefill.h"
#include "runtime/gen_stats.h"
#include "runtime/speculative.h"
#include "tokenizer/tokenizer.h"

namespace edgerag {

struct LlmParams {
  int max_tokens = 256;
  SamplerParams sampling;
  std::vector<std::string> stop;
  std::optional<SpecOptions> spec;  // none: the backend's default (local only)
  // Chunk KV reuse (local only): the prompt's retrieved chunks and the mode.
  std::vector<ChunkSpan> chunks = {};
  KvReuseOptions kv_reuse = {};
};

// One request's prompt, in the first form given: chat messages (the backend
// renders them; `ids` may hold the caller's rendering, used only for checks),
// token ids of the backend's tokenizer, or plain text. A rendered prompt may
// carry both its ids and its text: a backend whose token ids are only
// estimates (remote, tokenizer unknown) sends the text.
struct LlmPrompt {
  std::vector<ChatMessage> messages = {};
  std::vector<int32_t> ids = {};
  std::string text = {};
};

struct LlmResult : GenStats {
  std::string finish_reason;  // "stop" | "length" | "cancelled" | "error"
  std::string error;
};

// A running generation. Dropping an unfinished stream cancels it.
class LlmStream {
 public:
  virtual ~LlmStream() = default;
  enum class Next { Piece, Waiting, Done };
  // Waits up to `wait_ms` for the next piece of text; Done once the request
  // has finished and every piece was delivered (then result() is set).
  virtual Next next(std::string& piece, int wait_ms) = 0;
  virtual void cancel() = 0;
  virtual const LlmResult& result() const = 0;  // valid once next() returned Done
};

class LlmBackend {
 public:
  virtual ~LlmBackend() = default;
  virtual const std::string& id() const = 0;  // the model name the API reports
  virtual int32_t n_ctx() const = 0;          // tokens per request (prompt + answer)
  virtual ChatFormat chat_format() const = 0;
  // The tokenizer the backend's ids belong to, when known here; null when ids
  // are counted by the server or estimated (tokenize() is then only a count).
  virtual const Tokenizer* tokenizer() const = 0;
  // Token ids of a prompt as the backend will prefill it (BOS as the model
  // asks; only the chat template's markers become control tokens).
  virtual std::vector<int32_t> tokenize(const std::vector<PromptPart>& parts) const = 0;
  virtual std::vector<int32_t> tokenize(const std::string& text) const = 0;
  virtual bool has_draft_model() const { return false; }
  // Prometheus text of the backend's own figures, appended to the server's
  // /metrics (a remote pool: per replica); empty when the server has them all.
  virtual std::string metrics() const { return {}; }
  // Throws Overloaded when no capacity is left, Error for an impossible request.
  virtual std::unique_ptr<LlmStream> start(LlmPrompt prompt, const LlmParams& params) = 0;
};

}  // namespace edgerag
