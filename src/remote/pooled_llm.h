// An LlmBackend over a pool of OpenAI-compatible replicas of one model
// (`--llm-backend A,B,C`): each request goes where remote/replica_pool.h
// says (least outstanding, prefix affinity, circuit breakers), through that
// replica's RemoteLlm. A request that fails before its first piece (no
// connection, cut off, 429/503) is retried on another replica within the
// pool's retry budget; one cut off after pieces were streamed ends with an
// error naming the replica (its pieces cannot be taken back), and the other
// requests go on.
// Replicas are connected when first used, so one that is down at start
// joins when it comes up. Name, context, chat format and token counts are
// those of the first replica that answered at start (replicas serve the same
// model; give -m for exact local counts that do not depend on any replica).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "remote/remote_llm.h"
#include "remote/replica_pool.h"

namespace edgerag::remote {

struct PooledOptions {
  std::vector<std::string> urls;
  RemoteOptions remote = {};  // base_url is each URL in turn
  PoolOptions pool = {};
  int affinity_tokens = 256;  // prefix hashed for affinity (remote/prefix_key.h); 0: off
};

class PooledLlm final : public LlmBackend {
 public:
  // Throws edgerag::Error when no replica answers.
  static std::unique_ptr<PooledLlm> connect(const PooledOptions& opt);

  const std::string& id() const override { return primary_->id(); }
  int32_t n_ctx() const override { return primary_->n_ctx(); }
  ChatFormat chat_format() const override { return primary_->chat_format(); }
  const Tokenizer* tokenizer() const override { return primary_->tokenizer(); }
  std::vector<int32_t> tokenize(const std::vector<PromptPart>& parts) const override { return primary_->tokenize(parts); }
  std::vector<int32_t> tokenize(const std::string& text) const override { return primary_->tokenize(text); }
  // Throws BackendError when no replica is up.
  std::unique_ptr<LlmStream> start(LlmPrompt prompt, const LlmParams& params) override;
  std::string metrics() const override { return pool_->metrics("llm"); }
  ReplicaPool& pool() { return *pool_; }
  // Replica i's client, connected on first use; null while it does not answer.
  RemoteLlm* replica(size_t i);

 private:
  struct Slot {
    std::mutex mu;
    std::unique_ptr<RemoteLlm> llm;
  };
  PooledOptions opt_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<ReplicaPool> pool_;
  RemoteLlm* primary_ = nullptr;
};

}  // namespace edgerag::remote
