#include "remote/remote_encoders.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "format/gguf.h"
#include "model/bert_encoder.h"
#include "remote/remote_llm.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag::remote {

using nlohmann::json;

// What both share: the replicas, the served model's name, the local identity and tokenizer.
class EncoderReplicas {
 public:
  EncoderReplicas(EncoderBackend backend, const char* label)
      : b(std::move(backend)), label(label), pool(split_backend_urls(b.base_url, "--embed-backend/--rerank-backend"), b.pool) {
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
      prefixes = role_prefixes(*gguf);
    }
  }
  // One call on one replica; another is tried when there was no answer (or a busy one).
  json post(const std::string& path, const json& body) {
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    std::vector<size_t> tried;
    std::string last = "every replica is down";
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
      // The request's own fault (4xx) is an Error like any bad input; the server's is the backend's.
      if (r.status >= 400 && r.status < 500) fail("{}: HTTP {}: {}", url, r.status, error_message(r.body));
      if (r.status < 200 || r.status >= 300)
        throw BackendError(fmt::format("{} backend {}: HTTP {}: {}", label, url, r.status, error_message(r.body)));
      json j = parse_response(r.body);
      if (!j.is_object()) throw BackendError(fmt::format("{} backend {}: the answer is not a JSON object", label, url));
      return j;
    }
    throw BackendError(fmt::format("{} backend: no replica could serve the request (last: {})", label, last));
  }
  [[noreturn]] void malformed(const std::string& path, const std::string& what) const {
    throw BackendError(fmt::format("{} backend {}{}: {}", label, pool.url(0), path, what));
  }

  EncoderBackend b;
  const char* label;
  ReplicaPool pool;
  std::string model, name;
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Tokenizer> tok;
  RolePrefixes prefixes;  // of the local GGUF: added as a local encoder adds them
};

RemoteEmbedder::RemoteEmbedder(const EncoderBackend& b) : r_(std::make_unique<EncoderReplicas>(b, "embed")) {
  dim_ = static_cast<int>(embed({"dimension probe"}, false)[0].size());
}
RemoteEmbedder::~RemoteEmbedder() = default;
std::string RemoteEmbedder::name() const { return r_->name; }
const std::string& RemoteEmbedder::model() const { return r_->model; }
std::string RemoteEmbedder::metrics() const { return r_->pool.metrics("embed"); }

std::vector<std::vector<float>> RemoteEmbedder::embed(const std::vector<std::string>& texts, bool is_query) {
  const std::string& prefix = is_query ? r_->prefixes.query : r_->prefixes.passage;
  if (prefix.empty()) return embed_counted(texts, nullptr);
  std::vector<std::string> prefixed;
  prefixed.reserve(texts.size());
  for (const auto& t : texts) prefixed.push_back(prefix + t);
  return embed_counted(prefixed, nullptr);
}

std::vector<std::vector<float>> RemoteEmbedder::embed_counted(const std::vector<std::string>& texts, size_t* prompt_tokens) {
  const json j = r_->post("/embeddings", {{"model", r_->model}, {"input", texts}});
  const auto d = j.find("data");
  if (d == j.end() || !d->is_array() || d->size() != texts.size())
    r_->malformed("/embeddings", fmt::format("expected {} embeddings", texts.size()));
  std::vector<std::vector<float>> out(texts.size());
  for (const auto& e : *d) {
    const size_t i = e.is_object() && e.contains("index") && e["index"].is_number_unsigned() ? e["index"].get<size_t>() : out.size();
    if (i >= out.size() || !out[i].empty() || !e.contains("embedding") || !e["embedding"].is_array() ||
        e["embedding"].empty() || (dim_ != 0 && static_cast<int>(e["embedding"].size()) != dim_))
      r_->malformed("/embeddings", "a malformed embedding");
    double norm = 0;
    for (const auto& v : e["embedding"]) {
      if (!v.is_number()) r_->malformed("/embeddings", "a non-number in an embedding");
      out[i].push_back(v.get<float>());
      norm += double(out[i].back()) * out[i].back();
    }
    if (norm > 0)  // L2-normalized, as the Embedder contract says
      for (float& x : out[i]) x = static_cast<float>(x / std::sqrt(norm));
  }
  if (prompt_tokens) {
    const json u = j.value("usage", json::object());
    *prompt_tokens = u.is_object() && u.contains("prompt_tokens") && u["prompt_tokens"].is_number_unsigned()
                         ? u["prompt_tokens"].get<size_t>()
                         : 0;
  }
  return out;
}

size_t RemoteEmbedder::count_tokens(std::string_view text) const {
  return r_->tok ? r_->tok->encode(text, false).size() : static_cast<size_t>(estimate_tokens(text.size()));
}

RemoteReranker::RemoteReranker(const EncoderBackend& b) : r_(std::make_unique<EncoderReplicas>(b, "rerank")) {}
RemoteReranker::~RemoteReranker() = default;
std::string RemoteReranker::name() const { return r_->name; }
const std::string& RemoteReranker::model() const { return r_->model; }
std::string RemoteReranker::metrics() const { return r_->pool.metrics("rerank"); }

std::vector<float> RemoteReranker::score(const std::string& query, const std::vector<std::string>& passages) {
  const json j = r_->post("/rerank", {{"model", r_->model}, {"query", query}, {"documents", passages}, {"raw_scores", true}});
  const auto res = j.find("results");
  if (res == j.end() || !res->is_array() || res->size() != passages.size())
    r_->malformed("/rerank", fmt::format("expected {} results", passages.size()));
  std::vector<float> out(passages.size(), NAN);
  for (const auto& x : *res) {
    const size_t i = x.is_object() && x.contains("index") && x["index"].is_number_unsigned() ? x["index"].get<size_t>() : out.size();
    if (i >= out.size() || !std::isnan(out[i]) || !x.contains("relevance_score") || !x["relevance_score"].is_number())
      r_->malformed("/rerank", "a malformed result");
    out[i] = x["relevance_score"].get<float>();
  }
  return out;
}

}  // namespace edgerag::remote
