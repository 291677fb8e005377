// An LlmBackend on a remote OpenAI-compatible server (llama.cpp's llama-server,
// vLLM, TGI, another edgerag): chat messages go to /v1/chat/completions, other
// prompts to /v1/completions, streamed as server-sent events over libcurl.
//
// Token budgeting (the RAG prompt must fit the remote context):
//  - a local GGUF of the same model (RemoteOptions::tokenizer): its tokenizer
//    and chat format; prompts are sent as token ids, exactly what a local model
//    would prefill;
//  - else the server's POST /tokenize (llama-server, edgerag): exact counts, and
//    the ids it returned are sent;
//  - else an estimate of ceil(bytes / 3 * 1.15) + 4 tokens (BPE and SentencePiece
//    vocabularies average 3.5-4.5 bytes per token on English text; the 15 %
//    margin covers code and other languages), and prompts are sent as text.
// The context is RemoteOptions::n_ctx, else the server's (llama-server /props,
// vLLM /v1/models max_model_len), else 4096.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "remote/http_client.h"
#include "remote/remote_stream.h"
#include "runtime/llm_backend.h"

namespace edgerag::remote {

struct RemoteOptions {
  std::string base_url;         // OpenAI-style base: http://host:port/v1
  std::string model = {};       // model name sent; empty: the first of /v1/models
  std::string tokenizer = {};   // GGUF path of the same model (tokenizer and chat format), optional
  int n_ctx = 0;                // 0: ask the server
  HttpOptions http = {};
};

enum class TokenCount { Local, Server, Estimate };
const char* token_count_name(TokenCount c);  // "local" | "server" | "estimate"
int estimate_tokens(size_t bytes);

class RemoteLlm final : public LlmBackend {
 public:
  // Asks the server for its models (and context, /tokenize); throws
  // edgerag::Error when it does not answer.
  static std::unique_ptr<RemoteLlm> connect(const RemoteOptions& opt);

  const std::string& id() const override { return model_; }
  int32_t n_ctx() const override { return n_ctx_; }
  ChatFormat chat_format() const override { return format_; }
  const Tokenizer* tokenizer() const override { return tok_.get(); }
  std::vector<int32_t> tokenize(const std::vector<PromptPart>& parts) const override;
  std::vector<int32_t> tokenize(const std::string& text) const override;
  std::unique_ptr<LlmStream> start(LlmPrompt prompt, const LlmParams& params) override;
  std::unique_ptr<RemoteStream> stream(LlmPrompt prompt, const LlmParams& params) const;  // start(), with its failure kind
  TokenCount token_count() const { return count_; }

 private:
  RemoteLlm() = default;
  std::string root() const;  // base URL without its trailing /v1 (llama-server's /props, /tokenize)
  RemoteOptions opt_;
  std::string model_;
  int32_t n_ctx_ = 4096;
  ChatFormat format_ = ChatFormat::Plain;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<Tokenizer> tok_;
  TokenCount count_ = TokenCount::Estimate;
};

}  // namespace edgerag::remote
