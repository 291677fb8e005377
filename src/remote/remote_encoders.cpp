#include "remote/remote_encoders.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "format/gguf.h"
#include "remote/remote_llm.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag::remote {

using nlohmann::json;

namespace {

// What both share: the replicas, the served model's name, the local identity and tokenizer.
struct Remote {
  EncoderBackend b;
  ReplicaPool pool;
  std::string model, name;
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Tokenizer> tok;

  explicit Remote(EncoderBackend backend)
      : b(std::move(backend)), pool(split_backend_urls(b.base_url, "--embed-backend/--rerank-backend"), b.pool) {
    // The model named like the local GGUF when the server lists several, else the first.
    const std::string stem = std::filesystem::path(b.gguf).stem().string();
    std::string errors;
    for (size_t i = 0; i < pool.size() && model.empty(); ++i) {
      const HttpResult r = http_json(pool.url(i) + "/models", "", b.http);
      if (r.status < 200 || r.status >= 300) {
        errors += fmt::format("{}{}/models: {}", errors.empty() ? "" : "; ", pool.url(i),
                              r.connected() ? fmt::format("HTTP {}", r.status) : r.error);
        continue;
      }
      const json j = parse_response(r.body);
      if (j.is_object() && j.contains("data") && j["data"].is_array())
        for (const auto& m : j["data"])
          if (m.is_object() && m.contains("id") && m["id"].is_string() && (model.empty() || m["id"] == stem))
            model = m["id"].get<std::string>();
      if (model.empty()) errors += fmt::format("{}{}/models lists no model", errors.empty() ? "" : "; ", pool.url(i));
    }
    EDGERAG_CHECK(!model.empty(), "{}", errors);
    name = pool.url(0) + "#" + model;
    if (!b.gguf.empty()) {
      std::error_code ec;
      const auto p = std::filesystem::weakly_canonical(b.gguf, ec);
      name = ec ? b.gguf : p.string();  // as the local adapters name a model
      gguf = GgufFile::open(b.gguf);
      tok = Tokenizer::from_gguf(*gguf);
    }
  }
  // One call on one replica; another is tried when there was no answer (or a busy one).
  json post(const std::string& path, const json& body) {
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    std::vector<size_t> tried;
    std::string last = "no replica is available";
    while (tried.empty() || pool.take_retry()) {
      const auto lease = pool.acquire({}, tried);
      if (!lease) break;
      tried.push_back(lease->replica);
      const std::string url = pool.url(lease->replica) + path;
      const auto t0 = std::chrono::steady_clock::now();
      const HttpResult r = http_json(url, text, b.http);
      const bool busy = r.status == 429 || r.status == 503;
      pool.release(lease->replica,
                   !r.connected() || !r.error.empty() ? ReplicaPool::Outcome::Failed
                   : busy                             ? ReplicaPool::Outcome::Busy
                                                      : ReplicaPool::Outcome::Ok,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (!r.connected() || !r.error.empty() || busy) {
        last = fmt::format("{}: {}", url, r.connected() ? fmt::format("HTTP {} {}", r.status, r.error) : r.error);
        continue;
      }
      EDGERAG_CHECK(r.status >= 200 && r.status < 300, "{}: HTTP {}: {}", url, r.status, error_message(r.body));
      json j = parse_response(r.body);
      EDGERAG_CHECK(j.is_object(), "{}: the answer is not a JSON object", url);
      return j;
    }
    throw Error(fmt::format("{}: no replica could serve the request (last: {})", path, last));
  }
};

class RemoteEmbedder final : public rag::Embedder {
 public:
  explicit RemoteEmbedder(EncoderBackend b) : r_(std::move(b)) { dim_ = static_cast<int>(embed({"dimension probe"}, false)[0].size()); }
  std::string name() const override { return r_.name; }
  int dim() const override { return dim_; }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, bool) override {
    const json j = r_.post("/embeddings", {{"model", r_.model}, {"input", texts}});
    const auto d = j.find("data");
    EDGERAG_CHECK(d != j.end() && d->is_array() && d->size() == texts.size(), "{}/embeddings: expected {} embeddings",
                  r_.pool.url(0), texts.size());
    std::vector<std::vector<float>> out(texts.size());
    for (const auto& e : *d) {
      const size_t i = e.is_object() && e.contains("index") && e["index"].is_number_unsigned() ? e["index"].get<size_t>() : out.size();
      EDGERAG_CHECK(i < out.size() && out[i].empty() && e.contains("embedding") && e["embedding"].is_array() &&
                        !e["embedding"].empty() && (dim_ == 0 || static_cast<int>(e["embedding"].size()) == dim_),
                    "{}/embeddings: a malformed embedding", r_.pool.url(0));
      double norm = 0;
      for (const auto& v : e["embedding"]) {
        EDGERAG_CHECK(v.is_number(), "{}/embeddings: a non-number in an embedding", r_.pool.url(0));
        out[i].push_back(v.get<float>());
        norm += double(out[i].back()) * out[i].back();
      }
      if (norm > 0)  // L2-normalized, as the Embedder contract says
        for (float& x : out[i]) x = static_cast<float>(x / std::sqrt(norm));
    }
    return out;
  }
  size_t count_tokens(std::string_view text) const override {
    return r_.tok ? r_.tok->encode(text, false).size() : static_cast<size_t>(estimate_tokens(text.size()));
  }

 private:
  Remote r_;
  int dim_ = 0;
};

class RemoteReranker final : public rag::Reranker {
 public:
  explicit RemoteReranker(EncoderBackend b) : r_(std::move(b)) {}
  std::string name() const override { return r_.name; }
  std::vector<float> score(const std::string& query, const std::vector<std::string>& passages) override {
    const json j = r_.post("/rerank", {{"model", r_.model}, {"query", query}, {"documents", passages}});
    const auto res = j.find("results");
    EDGERAG_CHECK(res != j.end() && res->is_array() && res->size() == passages.size(),
                  "{}/rerank: expected {} results", r_.pool.url(0), passages.size());
    std::vector<float> out(passages.size(), NAN);
    for (const auto& x : *res) {
      const size_t i = x.is_object() && x.contains("index") && x["index"].is_number_unsigned() ? x["index"].get<size_t>() : out.size();
      EDGERAG_CHECK(i < out.size() && std::isnan(out[i]) && x.contains("relevance_score") && x["relevance_score"].is_number(),
                    "{}/rerank: a malformed result", r_.pool.url(0));
      out[i] = x["relevance_score"].get<float>();
    }
    return out;
  }

 private:
  Remote r_;
};

}  // namespace

std::shared_ptr<rag::Embedder> connect_embedder(const EncoderBackend& b) { return std::make_shared<RemoteEmbedder>(b); }
std::shared_ptr<rag::Reranker> connect_reranker(const EncoderBackend& b) { return std::make_shared<RemoteReranker>(b); }

}  // namespace edgerag::remote
