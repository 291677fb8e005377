#include "remote/remote_encoders.h"

#include <cmath>
#include <filesystem>

#include "format/gguf.h"
#include "remote/remote_llm.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag::remote {

using nlohmann::json;

namespace {

// What both share: the URL, the served model's name, the local identity and tokenizer.
struct Remote {
  EncoderBackend b;
  std::string model, name;
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Tokenizer> tok;

  explicit Remote(EncoderBackend backend) : b(std::move(backend)) {
    while (!b.base_url.empty() && b.base_url.back() == '/') b.base_url.pop_back();
    const HttpResult r = http_json(b.base_url + "/models", "", b.http);
    EDGERAG_CHECK(r.status >= 200 && r.status < 300, "{}/models: {}", b.base_url,
                  r.connected() ? fmt::format("HTTP {}", r.status) : r.error);
    const json j = parse_response(r.body);
    // The model named like the local GGUF when the server lists several, else the first.
    const std::string stem = std::filesystem::path(b.gguf).stem().string();
    if (j.is_object() && j.contains("data") && j["data"].is_array())
      for (const auto& m : j["data"])
        if (m.is_object() && m.contains("id") && m["id"].is_string() && (model.empty() || m["id"] == stem))
          model = m["id"].get<std::string>();
    EDGERAG_CHECK(!model.empty(), "{}/models lists no model", b.base_url);
    name = b.base_url + "#" + model;
    if (!b.gguf.empty()) {
      std::error_code ec;
      const auto p = std::filesystem::weakly_canonical(b.gguf, ec);
      name = ec ? b.gguf : p.string();  // as the local adapters name a model
      gguf = GgufFile::open(b.gguf);
      tok = Tokenizer::from_gguf(*gguf);
    }
  }
  json post(const std::string& path, const json& body) const {
    const HttpResult r = http_json(b.base_url + path, body.dump(-1, ' ', false, json::error_handler_t::replace), b.http);
    EDGERAG_CHECK(r.status >= 200 && r.status < 300, "{}{}: {}", b.base_url, path,
                  r.connected() ? fmt::format("HTTP {}: {}", r.status, error_message(r.body)) : r.error);
    json j = parse_response(r.body);
    EDGERAG_CHECK(j.is_object(), "{}{}: the answer is not a JSON object", b.base_url, path);
    return j;
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
                  r_.b.base_url, texts.size());
    std::vector<std::vector<float>> out(texts.size());
    for (const auto& e : *d) {
      const size_t i = e.is_object() && e.contains("index") && e["index"].is_number_unsigned() ? e["index"].get<size_t>() : out.size();
      EDGERAG_CHECK(i < out.size() && out[i].empty() && e.contains("embedding") && e["embedding"].is_array() &&
                        !e["embedding"].empty() && (dim_ == 0 || static_cast<int>(e["embedding"].size()) == dim_),
                    "{}/embeddings: a malformed embedding", r_.b.base_url);
      double norm = 0;
      for (const auto& v : e["embedding"]) {
        EDGERAG_CHECK(v.is_number(), "{}/embeddings: a non-number in an embedding", r_.b.base_url);
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
                  "{}/rerank: expected {} results", r_.b.base_url, passages.size());
    std::vector<float> out(passages.size(), NAN);
    for (const auto& x : *res) {
      const size_t i = x.is_object() && x.contains("index") && x["index"].is_number_unsigned() ? x["index"].get<size_t>() : out.size();
      EDGERAG_CHECK(i < out.size() && std::isnan(out[i]) && x.contains("relevance_score") && x["relevance_score"].is_number(),
                    "{}/rerank: a malformed result", r_.b.base_url);
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
