// RAG endpoints: grounded answers with citations, and document ingestion.
// Every request is checked against its API key's scope: queries read only the
// collections the key covers, uploads and deletions need write rights there.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "rag/answer.h"
#include "rag/embedder.h"
#include "rag/index.h"
#include "rag/search_json.h"
#include "server/api_error.h"
#include "server/http_server.h"
#include "server/rag_engines.h"
#include "util/log.h"

namespace edgerag::server {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

void require_index(const std::string& dir) {
  if (dir.empty()) throw ApiError(404, "invalid_request_error", "this server was started without --index");
}

std::string collection_name(const json& v) {
  if (!v.is_string()) bad_param("collection", "'collection' must be a string");
  const std::string c = v.get<std::string>();
  if (c.empty() || c.size() > 128) bad_param("collection", "'collection' must be 1..128 characters");
  return c;
}

std::string collection_of(const json& j) {
  const auto it = j.find("collection");
  return it == j.end() ? std::string("default") : collection_name(*it);
}

KeyScope key_scope(const ApiKeys& keys, const httplib::Request& req) {
  std::optional<KeyScope> s = keys.scope(req.get_header_value("Authorization"));
  if (!s) throw ApiError(401, "authentication_error", "invalid or missing API key", "", "invalid_api_key");
  return *s;
}

// Admin endpoints: with API keys, a key for every collection that may write;
// without keys (no auth), loopback clients only.
void require_admin(const ApiKeys& keys, const httplib::Request& req) {
  if (!keys.enabled()) {
    const std::string& a = req.remote_addr;
    if (a.starts_with("127.") || a == "::1" || a.starts_with("::ffff:127.")) return;
    throw ApiError(403, "permission_error", "admin endpoints of a server without API keys answer loopback clients only",
                   "", "forbidden");
  }
  const KeyScope s = key_scope(keys, req);
  if (!s.all_collections || !s.write)
    throw ApiError(403, "permission_error", "admin endpoints need an API key for every collection with write access",
                   "", "forbidden");
}

void forbidden(const std::string& what, const std::string& collection) {
  throw ApiError(403, "permission_error", fmt::format("this API key may not {} collection '{}'", what, collection),
                 "collection", "forbidden");
}

// An uploaded file's name as one path component, injectively: characters
// other than [A-Za-z0-9._-] are %XX-escaped, so "a b" and "a_b" stay apart.
std::string upload_name(const std::string& name) {
  std::string out;
  for (unsigned char c : fs::path(name).filename().string()) {
    if (std::isalnum(c) || c == '-' || c == '_' || (c == '.' && !out.empty()))
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  if (out.empty() || out.size() > 200) bad_param("file", "file names must have 1..200 bytes once escaped");
  return out;
}

// Whether `path` is a file this server stored under `uploads`.
bool is_upload(const fs::path& uploads, const std::string& path) {
  const fs::path p = fs::path(path).lexically_normal();
  const auto rel = p.lexically_relative(uploads);
  return p.is_absolute() && !rel.empty() && *rel.begin() != "..";
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json report_json(const rag::IngestReport& r) {
  json failures = json::array();
  for (const auto& [path, why] : r.failures) failures.push_back({{"file", path}, {"error", why}});
  return {{"added", r.added},     {"updated", r.updated},         {"unchanged", r.unchanged},
          {"failed", r.failed},   {"chunks", r.chunks_written},   {"seconds", r.seconds},
          {"failures", failures}};
}

// "mode" (hybrid | bm25 | dense) and "filter": {"file_types": [...], "path_prefix": "..."} of a query.
void read_filter(const json& body, rag::QueryBounds& bounds) {
  if (auto m = body.find("mode"); m != body.end()) {
    if (!m->is_string()) bad_param("mode", "'mode' must be \"hybrid\", \"bm25\" or \"dense\"");
    try {
      bounds.mode = rag::parse_search_mode(m->get<std::string>());
    } catch (const Error& e) {
      bad_param("mode", "{}", e.what());
    }
  }
  const auto f = body.find("filter");
  if (f == body.end()) return;
  if (!f->is_object()) bad_param("filter", "'filter' must be an object {{file_types, path_prefix}}");
  if (auto t = f->find("file_types"); t != f->end()) {
    if (!t->is_array() || t->size() > 64) bad_param("filter", "'filter.file_types' must be an array of at most 64 strings");
    for (const auto& v : *t) {
      if (!v.is_string() || v.get_ref<const std::string&>().empty() || v.get_ref<const std::string&>().size() > 16)
        bad_param("filter", "'filter.file_types' holds strings of 1..16 characters");
      bounds.file_types.push_back(v.get<std::string>());
    }
  }
  if (auto pfx = f->find("path_prefix"); pfx != f->end()) {
    if (!pfx->is_string() || pfx->get_ref<const std::string&>().size() > 4096)
      bad_param("filter", "'filter.path_prefix' must be a string of at most 4096 bytes");
    bounds.path_prefix = pfx->get<std::string>();
  }
}

}  // namespace

RagEngines& Server::rag_engines() {
  std::call_once(rag_once_, [this] {
    rag_ = std::make_unique<RagEngines>(models_.index_dir,
                                        RagEncoders{.embed_path = models_.embed_path, .rerank_path = models_.rerank_path,
                                                    .embedder = models_.embed_backend, .reranker = models_.rerank_backend},
                                        opt_.rag.readers, opt_.rag.read_only);
  });
  return *rag_;
}

// Parses a query and runs retrieval and prompt assembly (the whole answer in
// extractive mode, without an LLM).
rag::PreparedAnswer Server::prepare_answer(const httplib::Request& req, bool& stream, bool& debug) {
  require_index(models_.index_dir);
  const KeyScope scope = key_scope(keys_, req);
  const json body = parse_json_body(req.body);
  const auto q = body.contains("question") ? body.find("question") : body.find("query");
  if (q == body.end() || !q->is_string() || q->get_ref<const std::string&>().empty())
    bad_param("question", "'question' must be a non-empty string");
  const std::string& question = q->get_ref<const std::string&>();
  if (question.size() > opt_.rag.max_question_bytes)
    bad_param("question", "the question has {} bytes; the limit is {}", question.size(), opt_.rag.max_question_bytes);
  const auto st = body.find("stream");
  if (st != body.end() && !st->is_null() && !st->is_boolean()) bad_param("stream", "'stream' must be a boolean");
  stream = st != body.end() && st->is_boolean() && st->get<bool>();
  const auto dbg = body.find("debug");
  if (dbg != body.end() && !dbg->is_boolean()) bad_param("debug", "'debug' must be a boolean");
  debug = dbg != body.end() && dbg->get<bool>();
  if (debug && !opt_.rag.debug_prompt) bad_param("debug", "this server was started without --debug-prompt");
  rag::QueryBounds bounds{.max_question_bytes = opt_.rag.max_question_bytes,
                          .max_question_tokens = opt_.rag.max_question_tokens,
                          .deadline = deadline()};
  // The collections read: the one asked for (within the key's scope), else all the key covers.
  if (auto c = body.find("collection"); c != body.end()) {
    bounds.collections = {collection_name(*c)};
    if (!scope.covers(bounds.collections[0])) forbidden("read", bounds.collections[0]);
  } else if (!scope.all_collections) {
    bounds.collections.assign(scope.collections.begin(), scope.collections.end());
  }
  read_filter(body, bounds);
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
  if (cfg.adaptive.hyde_max_tokens > opt_.limits.max_tokens)
    bad_param("config", "adaptive.hyde_max_tokens is limited to {}", opt_.limits.max_tokens);
  if (cfg.rerank_top > opt_.rag.max_rerank_top)
    bad_param("config", "retrieval.rerank_top is limited to {} on this server", opt_.rag.max_rerank_top);
  // The LLMs a question may be routed to; HyDE's passage is generated on the
  // routed one like any answer (limits, deadline, metrics).
  auto target_of = [this, d = bounds.deadline](LlmBackend& llm) {
    rag::PromptTarget t = rag::PromptTarget::of(llm);
    t.generate = [this, d, &llm](const LlmPrompt& prompt, const GenerationParams& g) {
      std::shared_ptr<LlmStream> job = start_job(
          prompt, {.max_tokens = g.max_tokens, .sampling = g.sampling, .stop = g.stop, .spec = {}}, "question", &llm);
      std::string text = wait_text(*job, d);
      return rag::generated_text(std::move(text), job->result());
    };
    return t;
  };
  std::optional<rag::PromptTarget> large, small;
  if (models_.llm) large = target_of(*models_.llm);
  if (models_.llm_small) small = target_of(*models_.llm_small);
  auto engine = rag_engines().acquire();
  try {
    return engine->prepare(question, cfg, rag::LlmTargets{.large = large ? &*large : nullptr, .small = small ? &*small : nullptr},
                           bounds);
  } catch (const DeadlineExceeded& e) {
    throw ApiError(504, "server_error", e.what(), "", "timeout");
  }
}

LlmBackend* Server::rag_llm(const std::string& routed) const {
  return routed == "small" && models_.llm_small ? models_.llm_small.get() : models_.llm.get();
}

void Server::handle_rag_query(const httplib::Request& req, httplib::Response& res) {
  bool stream = false, debug = false;
  rag::PreparedAnswer p = prepare_answer(req, stream, debug);
  LlmBackend* llm = rag_llm(p.answer.model);
  auto respond = [this, debug, llm](const rag::Answer& a) {
    const auto& t = a.timings;
    for (const auto& [stage, ms] : {std::pair{"embed", t.embed}, {"search", t.search}, {"rerank", t.rerank},
                                    {"prompt", t.prompt}, {"rag_prefill", t.prefill}, {"rag_decode", t.decode}})
      metrics_.observe_seconds("stage", ms / 1000, stage);
    metrics_.observe_seconds("rag_query", t.total / 1000);
    json j = rag::to_json(a);
    j["object"] = "rag.answer";
    // Which LLM answered ("model" says small or large; the route step says why).
    j["model_id"] = llm && !a.model.empty() ? json(llm->id()) : json(nullptr);
    if (debug) {
      j["debug"] = llm && llm->tokenizer() ? rag::prompt_tokens_json(a.prompt_ids, *llm->tokenizer()) : json::object();
      // The chunks supplied, in prompt order, with every retrieval stage's score.
      json context = json::array();
      for (const auto& h : a.context) context.push_back(rag::to_json(h));
      j["debug"]["context"] = std::move(context);
    }
    return j;
  };
  if (!p.generative()) {
    if (stream) bad_param("stream", "'stream' needs an LLM (this server answers extractively)");
    res.set_content(respond(p.answer).dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    return;
  }
  const GenerationParams& g = p.generation;
  std::shared_ptr<LlmStream> job =
      start_job({.ids = p.prompt_ids, .text = p.prompt},
                {.max_tokens = g.max_tokens,
                 .sampling = g.sampling,
                 .stop = g.stop,
                 .spec = {},
                 .chunks = p.chunk_spans,
                 .kv_reuse = p.kv_reuse},
                "question", llm);
  // The second half of the answer, from the job's text and counts.
  auto finish = [](rag::PreparedAnswer prepared, std::string text, const LlmResult& jr) {
    return rag::finish_answer(std::move(prepared), rag::generated_text(std::move(text), jr));
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
      [state, finish, respond](const LlmResult& jr, const Send& send) {
        send(respond(finish(std::move(state->first), std::move(state->second), jr)));
      });
}

void Server::handle_documents(const httplib::Request& req, httplib::Response& res, bool remove) {
  require_index(models_.index_dir);
  const KeyScope scope = key_scope(keys_, req);
  rag_engines().require_writable();
  auto require_write = [&scope](const std::string& collection) {
    if (!scope.write || !scope.covers(collection)) forbidden("write to", collection);
  };
  const fs::path uploads = fs::absolute(fs::path(models_.index_dir) / "uploads").lexically_normal();
  if (remove) {
    json body = req.body.empty() ? json::object() : parse_json_body(req.body);
    for (const auto& [k, v] : req.params) body[k] = v;  // ?collection=..&path=.. works too
    const std::string collection = collection_of(body);
    require_write(collection);
    const auto pit = body.contains("path") ? body.find("path") : body.find("key");
    if (pit == body.end() || !pit->is_string() || pit->get_ref<const std::string&>().empty())
      bad_param("path", "missing required parameter 'path'");
    const std::string path = pit->get<std::string>();
    bool removed = false;
    rag_engines().write([&](rag::Index& index) { removed = index.remove(collection, path); });
    if (!removed) throw ApiError(404, "invalid_request_error", fmt::format("no document '{}' in '{}'", path, collection), "path");
    std::error_code ec;
    if (is_upload(uploads, path)) fs::remove(path, ec);  // the server's copy goes with the document
    res.set_content(json{{"deleted", true}, {"collection", collection}, {"path", path}}.dump(), "application/json");
    return;
  }
  if (req.is_multipart_form_data()) {
    auto upload = std::make_shared<Upload>();
    upload->collection = req.has_file("collection") ? req.get_file_value("collection").content : "default";
    collection_name(upload->collection);
    require_write(upload->collection);
    for (const auto& [field, f] : req.files)
      if (!f.filename.empty()) upload->files.push_back({upload_name(f.filename), f.filename, f.content});  // not a plain field
    if (upload->files.empty()) bad_param("file", "no files uploaded (multipart field 'file')");
    const bool stream = (req.has_file("stream") && req.get_file_value("stream").content == "true") ||
                        req.get_param_value("stream") == "true";
    if (!stream) {
      res.set_content(dump_json(ingest_upload(*upload, uploads, {})), "application/json");
      return;
    }
    // Progress as server-sent events while the files are ingested, then the report.
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, upload, uploads](size_t, httplib::DataSink& sink) {
      bool ok = true;  // a client that went away stops getting events; the ingest still completes
      auto send = [&](const json& j) {
        const std::string s = "data: " + dump_json(j) + "\n\n";
        ok = ok && sink.write(s.data(), s.size());
      };
      json report;
      try {
        report = ingest_upload(*upload, uploads, [&](const rag::IngestProgress& p) {
          send({{"object", "ingest.progress"}, {"stage", rag::ingest_stage_name(p.stage)},
                {"file", upload->original_name(p.current)}, {"files_done", p.files_done},
                {"files_total", p.files_total}, {"chunks", p.chunks}});
        });
        report["object"] = "ingest.report";
      } catch (...) {
        // The 200 is sent: the failure (the embedder's backend down, a full disk) ends the stream as an error event.
        report = error_body(api_error_of(std::current_exception(), "POST /v1/documents (streamed)"));
      }
      send(report);
      static const std::string done = "data: [DONE]\n\n";
      if (ok && sink.write(done.data(), done.size())) sink.done();
      return ok;
    });
    return;
  } else {
    const json body = parse_json_body(req.body);
    rag::IngestOptions io;
    io.collection = collection_of(body);
    require_write(io.collection);
    auto docs = body.find("documents");
    if (docs == body.end() || !docs->is_array() || docs->empty())
      bad_param("documents", "'documents' must be a non-empty array of {{key, text, title?}}");
    std::vector<rag::TextDocument> texts;
    for (const auto& d : *docs) {
      if (!d.is_object() || !d.contains("key") || !d["key"].is_string() || !d.contains("text") || !d["text"].is_string() ||
          (d.contains("title") && !d["title"].is_string()))
        bad_param("documents", "each document needs string 'key' and 'text' (and a string 'title', if any)");
      texts.push_back({d["key"], d.value("title", std::string()), d["text"]});
    }
    rag::IngestReport report;
    rag_engines().write([&](rag::Index& index) { report = index.ingest_texts(texts, io); });
    res.set_content(dump_json(report_json(report)), "application/json");
  }
}

json Server::ingest_upload(Upload& upload, const fs::path& uploads, const rag::ProgressFn& progress) {
  rag::IngestReport report;
  rag::IngestOptions io;
  io.collection = upload.collection;
  rag_engines().write([&](rag::Index& index) {
    // Uploads are filed under the collection's id: names of any text never collide.
    const fs::path dir = uploads / fmt::format("c{}", index.collection_id(io.collection));
    fs::create_directories(dir);
    std::vector<std::string> paths;
    for (auto& f : upload.files) {
      f.path = (dir / f.path).string();
      std::ofstream(f.path, std::ios::binary).write(f.content.data(), static_cast<std::streamsize>(f.content.size()));
      f.content = {};
      paths.push_back(f.path);
    }
    report = index.ingest(paths, io, progress);
  });
  std::error_code ec;
  for (const auto& [path, why] : report.failures)
    if (is_upload(uploads, path)) fs::remove(path, ec);  // nothing indexed refers to it
  json out = report_json(report);
  json stored = json::array();
  for (const auto& f : upload.files) stored.push_back({{"file", f.name}, {"path", f.path}});
  for (auto& failure : out["failures"]) failure["name"] = upload.original_name(failure["file"].get<std::string>());
  out["stored"] = std::move(stored);
  return out;
}

std::string Server::Upload::original_name(const std::string& path) const {
  for (const auto& f : files)
    if (f.path == path) return f.name;
  return path;
}

// Collections and their documents, for the page and API clients; each only
// within the key's scope.
void Server::handle_collections(const httplib::Request& req, httplib::Response& res) {
  require_index(models_.index_dir);
  const KeyScope scope = key_scope(keys_, req);
  std::vector<rag::CollectionInfo> all;
  rag_engines().read([&](rag::Index& index) { all = index.collections(); });
  auto exists = [&](const std::string& name) {
    return std::any_of(all.begin(), all.end(), [&](const auto& c) { return c.name == name; });
  };
  if (req.method == "GET") {
    json data = json::array();
    for (const auto& c : all)
      if (scope.covers(c.name))
        data.push_back({{"name", c.name}, {"documents", c.documents}, {"chunks", c.chunks}});
    res.set_content(dump_json({{"object", "list"}, {"data", data}}), "application/json");
    return;
  }
  rag_engines().require_writable();
  json body = req.body.empty() ? json::object() : parse_json_body(req.body);
  if (!body.is_object()) bad_param("name", "expected a JSON object {{\"name\": ...}}");
  for (const auto& [k, v] : req.params) body[k] = v;  // ?name=.. works too
  const auto it = body.find("name");
  if (it == body.end()) bad_param("name", "missing required parameter 'name'");
  const std::string name = collection_name(*it);
  if (!scope.write || !scope.covers(name)) forbidden("write to", name);
  const fs::path uploads = fs::absolute(fs::path(models_.index_dir) / "uploads").lexically_normal();
  if (req.method == "POST") {
    const bool created = !exists(name);
    rag_engines().write([&](rag::Index& index) { index.collection_id(name); });
    res.status = created ? 201 : 200;
    res.set_content(dump_json({{"name", name}, {"created", created}}), "application/json");
    return;
  }
  if (!exists(name)) throw ApiError(404, "invalid_request_error", fmt::format("no collection '{}'", name), "name");
  size_t removed = 0;
  rag_engines().write([&](rag::Index& index) {
    const fs::path dir = uploads / fmt::format("c{}", index.collection_id(name));
    removed = index.remove_collection(name);
    std::error_code ec;
    fs::remove_all(dir, ec);  // the server's copies of its uploads
  });
  res.set_content(dump_json({{"deleted", true}, {"name", name}, {"documents", removed}}), "application/json");
}

json Server::reload_index() {
  require_index(models_.index_dir);
  RagEngines& engines = rag_engines();
  const std::string before = engines.served_dir();
  try {
    const rag::IndexStats st = engines.reload();
    log(LogLevel::Info, "index reloaded: {} ({} documents, {} chunks)", engines.served_dir(), st.documents, st.chunks);
    return {{"object", "index.reload"}, {"index", engines.served_dir()}, {"previous", before},
            {"documents", st.documents}, {"chunks", st.chunks}, {"vectors", st.vectors}};
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw ApiError(409, "server_error",
                   fmt::format("reload failed, still serving {}: {}", before, e.what()), "", "reload_failed");
  }
}

void Server::handle_reload(const httplib::Request& req, httplib::Response& res) {
  require_admin(keys_, req);
  res.set_content(dump_json(reload_index()), "application/json");
}

void Server::handle_document_list(const httplib::Request& req, httplib::Response& res) {
  require_index(models_.index_dir);
  const KeyScope scope = key_scope(keys_, req);
  const std::string collection = req.has_param("collection") ? req.get_param_value("collection") : "default";
  collection_name(collection);
  if (!scope.covers(collection)) forbidden("read", collection);
  size_t limit = 1000;
  if (req.has_param("limit")) {
    const std::string v = req.get_param_value("limit");
    if (v.empty() || v.size() > 5 || !std::all_of(v.begin(), v.end(), ::isdigit) || std::stoul(v) == 0)
      bad_param("limit", "'limit' must be 1..10000");
    limit = std::min<size_t>(std::stoul(v), 10000);
  }
  std::vector<rag::DocumentInfo> docs;
  rag_engines().read([&](rag::Index& index) { docs = index.documents(collection, limit); });
  json data = json::array();
  for (const auto& d : docs)
    data.push_back({{"path", d.path}, {"name", fs::path(d.path).filename().string()}, {"file_type", d.file_type},
                    {"title", d.title}, {"size", d.size}, {"chunks", d.chunks}, {"ingested_at", d.ingested_at}});
  res.set_content(dump_json({{"object", "list"}, {"collection", collection}, {"data", data}}), "application/json");
}

}  // namespace edgerag::server
