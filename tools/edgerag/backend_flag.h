// --llm-backend URL: generate on a remote OpenAI-compatible server instead of
// a local model (ask, serve). With -m as well, that GGUF is the remote
// model's tokenizer and chat format (exact token budgets; see remote/remote_llm.h).
#pragma once
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/llm_backend.h"

namespace edgerag::cli {

struct BackendFlags {
  std::string llm_url;
  std::string api_key;
  int timeout_s = 300;
  bool remote() const { return !llm_url.empty(); }
  // Connects (throws edgerag::Error when the server does not answer); `tokenizer`: resolved GGUF or "".
  std::unique_ptr<LlmBackend> connect(const std::string& tokenizer, int n_ctx) const;
};

std::shared_ptr<BackendFlags> add_backend_options(CLI::App* cmd);

}  // namespace edgerag::cli
