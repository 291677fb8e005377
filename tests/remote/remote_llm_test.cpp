// RemoteLlm against a scripted OpenAI-compatible server on loopback (httplib):
// streamed pieces in order with usage, ids sent when counts are the server's,
// an HTTP error and a stream cut off mid-answer end as "error" with the reason,
// a hostile answer (nested deeper than any real one) is refused before parsing,
// and a refused connection fails connect() clearly.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "remote/http_client.h"
#include "remote/remote_llm.h"
#include "util/error.h"

namespace edgerag::remote {
namespace {

using nlohmann::json;

struct FakeServer {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  std::string mode = "ok";  // ok | http_error | cut | deep
  json last_body;
  FakeServer() {
    http.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"m1","max_model_len":777}]})", "application/json");
    });
    http.Post("/tokenize", [](const httplib::Request& req, httplib::Response& res) {
      const json b = json::parse(req.body);
      res.set_content(json{{"tokens", json::array({1, 2, 3}).get<std::vector<int>>()}}.dump(), "application/json");
      (void)b;
    });
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      last_body = json::parse(req.body);
      if (mode == "http_error") {
        res.status = 400;
        res.set_content(R"({"error":{"message":"prompt too long","type":"invalid_request_error"}})", "application/json");
        return;
      }
      const bool cut = mode == "cut", deep = mode == "deep";
      res.set_chunked_content_provider("text/event-stream", [cut, deep](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& s) { sink.write(s.data(), s.size()); };
        if (deep) send("data: " + std::string(500000, '[') + "\n\n");  // an event that is not ours: skipped
        send("data: {\"choices\":[{\"index\":0,\"text\":\"Hello\",\"finish_reason\":null,"
             "\"logprobs\":{\"tokens\":[\"Hello\"],\"token_logprobs\":[-0.5]}}]}\n\n");
        send(": a comment line\n\ndata: {\"choices\":[{\"index\":0,\"text\":\", world\",\"finish_reason\":null,"
             "\"logprobs\":{\"tokens\":[\",\",\" world\"],\"token_logprobs\":[-1.0,-1.5]}}]}\n\n");
        if (cut) return false;  // the connection drops mid-answer
        send("data: {\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n");
        send("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n");
        sink.done();
        return true;
      });
    });
    // Chat: the sampled tokens' logprobs in OpenAI's chat form.
    http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      last_body = json::parse(req.body);
      res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
        const std::string s =
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi there\"},\"finish_reason\":\"stop\","
            "\"logprobs\":{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.2},{\"token\":\" there\",\"logprob\":-0.4}]}}]}"
            "\n\ndata: [DONE]\n\n";
        sink.write(s.data(), s.size());
        sink.done();
        return true;
      });
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
    while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // stop() before listen would be lost
  }
  ~FakeServer() {
    http.stop();
    thread.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
};

std::string drain(LlmStream& s) {
  std::string text, piece;
  for (;;) {
    auto n = s.next(piece, 5000);
    if (n == LlmStream::Next::Done) return text;
    if (n == LlmStream::Next::Piece) text += piece;
  }
}

TEST(RemoteLlm, StreamsPiecesAndUsageAndSendsServerCountedIds) {
  FakeServer f;
  auto llm = RemoteLlm::connect({.base_url = f.base()});
  EXPECT_EQ(llm->id(), "m1");
  EXPECT_EQ(llm->n_ctx(), 777);  // vLLM's max_model_len
  EXPECT_EQ(llm->token_count(), TokenCount::Server);
  EXPECT_EQ(llm->tokenizer(), nullptr);
  const std::vector<int32_t> ids = llm->tokenize(std::string("anything"));
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 3}));
  LlmParams p;
  p.max_tokens = 2;
  p.stop = {"\n\n"};
  auto s = llm->start({.ids = ids, .text = "anything"}, p);
  EXPECT_EQ(drain(*s), "Hello, world");
  EXPECT_EQ(s->result().finish_reason, "length");
  EXPECT_EQ(s->result().n_prompt, 3);
  EXPECT_EQ(s->result().n_generated, 2);
  EXPECT_EQ(f.last_body["prompt"], json::array({1, 2, 3}));
  EXPECT_EQ(f.last_body["model"], "m1");
  EXPECT_EQ(f.last_body["stream"], true);
  EXPECT_EQ(f.last_body["max_tokens"], 2);
  EXPECT_EQ(f.last_body["stop"], json::array({"\n\n"}));
  // The sampled tokens' logprobs were asked for, and their geometric mean is reported.
  EXPECT_EQ(f.last_body["logprobs"], 1);
  ASSERT_TRUE(s->result().token_p.has_value());
  EXPECT_NEAR(*s->result().token_p, std::exp(-1.0), 1e-12);
}

TEST(RemoteLlm, ChatAsksForLogprobsAndReportsTheirGeometricMean) {
  FakeServer f;
  auto llm = RemoteLlm::connect({.base_url = f.base()});
  auto s = llm->start({.messages = {{"user", "hello"}}}, {});
  EXPECT_EQ(drain(*s), "Hi there");
  EXPECT_EQ(f.last_body["logprobs"], true);
  ASSERT_TRUE(s->result().token_p.has_value());
  EXPECT_NEAR(*s->result().token_p, std::exp(-0.3), 1e-12);
}

TEST(RemoteLlm, HttpErrorAndCutStreamEndAsErrors) {
  FakeServer f;
  auto llm = RemoteLlm::connect({.base_url = f.base()});
  f.mode = "http_error";
  auto s = llm->start({.text = "x"}, {});
  EXPECT_EQ(drain(*s), "");
  EXPECT_EQ(s->result().finish_reason, "error");
  EXPECT_NE(s->result().error.find("answered 400: prompt too long"), std::string::npos) << s->result().error;
  f.mode = "cut";
  auto c = llm->start({.text = "x"}, {});
  EXPECT_EQ(drain(*c), "Hello, world");  // what arrived is kept
  EXPECT_EQ(c->result().finish_reason, "error");
  EXPECT_FALSE(c->result().error.empty());
}

TEST(RemoteLlm, OverDeepAnswersAreRefusedBeforeParsing) {
  EXPECT_TRUE(parse_response(std::string(100000, '[') + std::string(100000, ']')).is_discarded());
  EXPECT_TRUE(parse_response("{\"a\":").is_discarded());
  EXPECT_EQ(parse_response(R"({"data":[{"embedding":[0.5,1]}]})")["data"][0]["embedding"][1], 1);
  FakeServer f;
  auto llm = RemoteLlm::connect({.base_url = f.base()});
  f.mode = "deep";
  auto s = llm->start({.text = "x"}, {});
  EXPECT_EQ(drain(*s), "Hello, world");
  EXPECT_EQ(s->result().finish_reason, "length");
}

TEST(RemoteLlm, EstimateIsAboveThreeBytesPerToken) {
  EXPECT_EQ(estimate_tokens(0), 4);
  EXPECT_EQ(estimate_tokens(300), 115 + 4);
  EXPECT_GE(estimate_tokens(4000), 4000 / 3);
}

TEST(RemoteLlm, UnreachableServerFailsToConnect) {
  int port;
  {
    FakeServer f;  // a port that was just free
    port = f.port;
  }
  EXPECT_THROW(RemoteLlm::connect({.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1"}), Error);
  EXPECT_THROW(RemoteLlm::connect({.base_url = "file:///etc/passwd"}), Error);
  EXPECT_THROW(RemoteLlm::connect({.base_url = "http://a:1/v1,http://b:1/v1"}), Error);
}

}  // namespace
}  // namespace edgerag::remote
