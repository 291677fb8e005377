// RAG endpoints: grounded answers with citations, and document ingestion.
#include <filesystem>
#include <fstream>
#include <optional>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "rag/answer.h"
#include "rag/embedder.h"
#include "rag/index.h"
#include "server/api_error.h"
#include "server/http_server.h"

namespace edgerag::server {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

void require_index(const std::string& dir) {
  if (dir.empty()) throw ApiError(404, "invalid_request_error", "this server was started without --index");
}

std::string collection_of(const json& j) {
  auto c = j.value("collection", std::string("default"));
  if (c.empty() || c.size() > 128) bad_param("collection", "'collection' must be 1..128 characters");
  return c;
}

// An uploaded file name reduced to a safe single path component.
std::string safe_name(const std::string& name) {
  std::string out = fs::path(name).filename().string();
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
  if (out.empty() || out[0] == '.') bad_param("file", "invalid file name '{}'", name);
  return out;
}

json report_json(const rag::IngestReport& r) {
  json failures = json::array();
  for (const auto& [path, why] : r.failures) failures.push_back({{"file", path}, {"error", why}});
  return {{"added", r.added},     {"updated", r.updated},         {"unchanged", r.unchanged},
          {"failed", r.failed},   {"chunks", r.chunks_written},   {"seconds", r.seconds},
          {"failures", failures}};
}

}  // namespace

rag::AnswerEngine& Server::answer_engine() {
  // No LLM here: generation runs on the served LLM's scheduler.
  if (!answer_)
    answer_ = rag::AnswerEngine::open(
        {.index_dir = models_.index_dir, .embed = models_.embed_path, .rerank = models_.rerank_path});
  return *answer_;
}

// Parses a query and runs retrieval and prompt assembly (the whole answer in
// extractive mode, without an LLM).
rag::PreparedAnswer Server::prepare_answer(const httplib::Request& req, bool& stream) {
  require_index(models_.index_dir);
  const json body = parse_json_body(req.body);
  const auto q = body.contains("question") ? body.find("question") : body.find("query");
  if (q == body.end() || !q->is_string() || q->get<std::string>().empty())
    bad_param("question", "'question' must be a non-empty string");
  const std::string question = q->get<std::string>();
  const auto st = body.find("stream");
  if (st != body.end() && !st->is_null() && !st->is_boolean()) bad_param("stream", "'stream' must be a boolean");
  stream = st != body.end() && st->is_boolean() && st->get<bool>();
  rag::AnswerConfig cfg;
  if (auto it = body.find("config"); it != body.end()) {
    if (!it->is_object()) bad_param("config", "'config' must be an object");
    try {
      rag::apply_json(cfg, *it);
      cfg.validate();
    } catch (const Error& e) {
      bad_param("config", "{}", e.what());
    }
  }
  if (cfg.max_answer_tokens > opt_.limits.max_tokens)
    bad_param("config", "max_answer_tokens is limited to {}", opt_.limits.max_tokens);
  std::optional<rag::PromptTarget> target;
  if (models_.llm) {
    const LlmService* llm = models_.llm.get();
    target = rag::PromptTarget{llm->chat_format(), [llm](std::string_view s) { return llm->tokenize(std::string(s)).size(); },
                               llm->n_ctx()};
  }
  std::lock_guard lk(rag_mu_);
  return answer_engine().prepare(question, cfg, target ? &*target : nullptr);
}

void Server::handle_rag_query(const httplib::Request& req, httplib::Response& res) {
  bool stream = false;
  rag::PreparedAnswer p = prepare_answer(req, stream);
  auto respond = [this](const rag::Answer& a) {
    const auto& t = a.timings;
    for (const auto& [stage, ms] : {std::pair{"embed", t.embed}, {"search", t.search}, {"rerank", t.rerank},
                                    {"prompt", t.prompt}, {"rag_prefill", t.prefill}, {"rag_decode", t.decode}})
      metrics_.observe_seconds("stage", ms / 1000, stage);
    metrics_.observe_seconds("rag_query", t.total / 1000);
    json j = rag::to_json(a);
    j["object"] = "rag.answer";
    return j;
  };
  if (!p.generative()) {
    if (stream) bad_param("stream", "'stream' needs an LLM (this server answers extractively)");
    res.set_content(respond(p.answer).dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    return;
  }
  const GenerationParams& g = p.generation;
  std::shared_ptr<Job> job =
      start_job(models_.llm->tokenize(p.prompt), {.max_tokens = g.max_tokens, .sampling = g.sampling, .stop = g.stop},
                "question");
  // The second half of the answer, from the job's text and counts.
  auto finish = [](rag::PreparedAnswer prepared, std::string text, const JobResult& jr) {
    return rag::finish_answer(std::move(prepared), {.text = std::move(text),
                                                    .stop_reason = jr.finish_reason,
                                                    .n_prompt = jr.n_prompt,
                                                    .n_answer = jr.n_generated,
                                                    .queue_ms = jr.queue_ms,
                                                    .prefill_ms = jr.ttft_ms - jr.queue_ms,
                                                    .decode_ms = jr.total_ms - jr.ttft_ms});
  };
  if (!stream) {
    std::string text = wait_text(*job, deadline());
    res.set_content(respond(finish(std::move(p), std::move(text), job->result())).dump(-1, ' ', false,
                                                                                     json::error_handler_t::replace),
                    "application/json");
    return;
  }
  // Raw text deltas as generated, then the finished answer (markers checked, citations resolved).
  auto state = std::make_shared<std::pair<rag::PreparedAnswer, std::string>>(std::move(p), "");
  stream_job(
      res, job, deadline(),
      [state](const std::string& piece, const Send& send) {
        state->second += piece;
        send({{"object", "rag.answer.delta"}, {"delta", piece}});
      },
      [state, finish, respond](const JobResult& jr, const Send& send) {
        send(respond(finish(std::move(state->first), std::move(state->second), jr)));
      });
}

void Server::handle_documents(const httplib::Request& req, httplib::Response& res, bool remove) {
  require_index(models_.index_dir);
  std::lock_guard lk(rag_mu_);
  answer_.reset();  // reopened on the next query, so it sees the change
  auto index = rag::Index::open(models_.index_dir, {.writable = true});
  if (!models_.embed_path.empty()) {
    if (!doc_embedder_) doc_embedder_ = rag::load_embedder(models_.embed_path);  // once, not per upload
    index->set_embedder(doc_embedder_);
  }
  if (remove) {
    json body = req.body.empty() ? json::object() : parse_json_body(req.body);
    for (const auto& [k, v] : req.params) body[k] = v;  // ?collection=..&path=.. works too
    const std::string collection = collection_of(body);
    const std::string path = body.value("path", body.value("key", std::string()));
    if (path.empty()) bad_param("path", "missing required parameter 'path'");
    bool removed = index->remove(collection, path);
    if (!removed) throw ApiError(404, "invalid_request_error", fmt::format("no document '{}' in '{}'", path, collection), "path");
    res.set_content(json{{"deleted", true}, {"collection", collection}, {"path", path}}.dump(), "application/json");
    return;
  }
  rag::IngestReport report;
  if (req.is_multipart_form_data()) {
    rag::IngestOptions io;
    io.collection = req.has_file("collection") ? req.get_file_value("collection").content : "default";
    collection_of(json{{"collection", io.collection}});
    const fs::path dir = fs::path(models_.index_dir) / "uploads" / safe_name(io.collection);
    fs::create_directories(dir);
    std::vector<std::string> paths;
    for (const auto& [field, f] : req.files) {
      if (f.filename.empty()) continue;  // a plain form field
      const fs::path p = dir / safe_name(f.filename);
      std::ofstream(p, std::ios::binary).write(f.content.data(), static_cast<std::streamsize>(f.content.size()));
      paths.push_back(p.string());
    }
    if (paths.empty()) bad_param("file", "no files uploaded (multipart field 'file')");
    report = index->ingest(paths, io);
  } else {
    const json body = parse_json_body(req.body);
    rag::IngestOptions io;
    io.collection = collection_of(body);
    auto docs = body.find("documents");
    if (docs == body.end() || !docs->is_array() || docs->empty())
      bad_param("documents", "'documents' must be a non-empty array of {{key, text, title?}}");
    std::vector<rag::TextDocument> texts;
    for (const auto& d : *docs) {
      if (!d.is_object() || !d.contains("key") || !d["key"].is_string() || !d.contains("text") || !d["text"].is_string())
        bad_param("documents", "each document needs string 'key' and 'text'");
      texts.push_back({d["key"], d.value("title", std::string()), d["text"]});
    }
    report = index->ingest_texts(texts, io);
  }
  res.set_content(report_json(report).dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

}  // namespace edgerag::server
