// One streamed generation on a remote OpenAI-compatible server, on its own
// thread (libcurl, server-sent events); pieces are queued for the consumer.
// Besides the LlmStream result it tells how a failed request failed, so a pool
// can retry one that never reached the server (or found it busy) elsewhere.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "remote/http_client.h"
#include "runtime/llm_backend.h"

namespace edgerag::remote {

class RemoteStream final : public LlmStream {
 public:
  enum class Failure {
    None,
    Transport,  // no connection, a timeout, or the connection cut before [DONE]
    Busy,       // HTTP 429 or 503
    Answer,     // any other HTTP error or an error event: the server's verdict
  };
  RemoteStream(std::string url, std::string body, HttpOptions http, bool chat);
  ~RemoteStream() override;
  Next next(std::string& piece, int wait_ms) override;
  void cancel() override { abort_ = true; }
  const LlmResult& result() const override { return result_; }
  Failure failure() const { return failure_; }  // valid once next() returned Done

 private:
  void run(const std::string& url, const std::string& body, const HttpOptions& http, bool chat);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;
  bool done_ = false;
  LlmResult result_;
  Failure failure_ = Failure::None;
  std::atomic<bool> abort_{false};
  std::thread thread_;
};

}  // namespace edgerag::remote
