#include "loadgen/loadgen.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <charconv>
#include <filesystem>
#include <functional>
#include <mutex>
#include <numeric>
#include <thread>

#include <httplib.h>
#include <unistd.h>

#include "server/load_models.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {
namespace {

using nlohmann::json;

struct RunStats {
  int clients = 0, requests = 0, errors = 0;
  double wall_s = 0;
  uint64_t tokens = 0, cached = 0, prompt = 0;
  std::vector<double> ttft_ms;
  json to_json() const {
    std::vector<double> t = ttft_ms;
    std::sort(t.begin(), t.end());
    auto pct = [&](double p) { return t.empty() ? 0.0 : t[std::min(t.size() - 1, size_t(p * t.size()))]; };
    double mean = t.empty() ? 0 : std::accumulate(t.begin(), t.end(), 0.0) / t.size();
    return {{"clients", clients},           {"requests", requests},        {"errors", errors},
            {"wall_s", wall_s},             {"generated_tokens", tokens},  {"tokens_per_s", tokens / wall_s},
            {"ttft_ms_mean", mean},         {"ttft_ms_p50", pct(0.5)},     {"ttft_ms_p90", pct(0.9)},
            {"prompt_tokens", prompt},      {"cached_prompt_tokens", cached}};
  }
};

struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
};

RunStats drive(const Target& target, int clients, int per_client, const std::function<json(int, int)>& body_of) {
  RunStats st;
  st.clients = clients;
  std::mutex mu;
  Timer wall;
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&, c] {
      for (int r = 0; r < per_client; ++r) {
        httplib::Client cl(target.host, target.port);
        cl.set_read_timeout(600, 0);
        Timer t;
        double ttft = -1;
        std::string buf;
        json usage;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.body = body_of(c, r).dump();
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
          buf.append(d, n);
          for (size_t p; (p = buf.find("\n\n")) != std::string::npos; buf.erase(0, p + 2)) {
            std::string data = buf.substr(0, p);
            if (data.rfind("data: {", 0) != 0) continue;
            json j = json::parse(data.substr(6), nullptr, false);
            if (j.contains("usage") && j["usage"].is_object()) usage = j["usage"];
            if (ttft < 0 && j.contains("choices") && !j["choices"].empty() &&
                !j["choices"][0]["delta"].value("content", std::string()).empty())
              ttft = t.ms();
          }
          return true;
        };
        auto res = cl.send(req);
        std::lock_guard lk(mu);
        st.requests++;
        if (!res || res->status != 200 || usage.is_null()) {
          st.errors++;
          continue;
        }
        st.ttft_ms.push_back(ttft < 0 ? t.ms() : ttft);
        st.tokens += usage.value("completion_tokens", uint64_t{0});
        st.prompt += usage.value("prompt_tokens", uint64_t{0});
        if (const auto d = usage.find("prompt_tokens_details"); d != usage.end() && d->is_object())
          st.cached += d->value("cached_tokens", uint64_t{0});  // a remote server may not report it
      }
    });
  for (auto& t : ts) t.join();
  st.wall_s = wall.seconds();
  return st;
}

// A server on a free loopback port for the duration of fn(port).
json with_server(const std::string& model, const ServeBenchOptions& f, int max_running, bool prefix_cache,
                 const std::string& index_dir, const std::function<json(int)>& fn) {
  LlmOptions lo;
  lo.kv_tokens = f.kv_tokens;
  lo.kv_type = f.kv_type;
  lo.spec = f.spec;
  lo.n_threads = f.threads;
  lo.scheduler.max_running = max_running;
  lo.scheduler.max_queued = 256;
  lo.scheduler.prefix_cache = prefix_cache;
  server::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.limits.max_tokens = f.max_tokens;
  server::Server srv(server::load_models({.llm = model, .index_dir = index_dir}, lo), so);
  int port = srv.bind();
  std::thread th([&] { srv.run(); });
  json out;
  try {
    out = fn(port);
  } catch (...) {
    srv.stop();
    th.join();
    throw;
  }
  srv.stop();
  th.join();
  return out;
}

json post_ok(httplib::Client& c, const std::string& path, const json& body) {
  auto res = c.Post(path.c_str(), body.dump(), "application/json");
  if (!res || res->status != 200)
    fail("bench serve: {} failed: {}", path, res ? res->body : httplib::to_string(res.error()));
  return json::parse(res->body);
}

// N questions over a synthetic index, asked one after another on one server
// and all at once on a fresh one (both with the prefix cache, both starting
// cold, so neither reuses the other's prompts).
json bench_rag(const std::string& model, const ServeBenchOptions& f) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("edgerag_bench_rag_{}", ::getpid());
  std::filesystem::remove_all(dir);
  const json config = {{"generation", {{"max_tokens", f.max_tokens}}}};
  auto ask = [&](int port, int i) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(600, 0);
    const json body = {{"question", fmt::format("Which bucket keeps the number {}?", i)}, {"config", config}};
    return post_ok(c, "/v1/rag/query", body);
  };
  auto summary = [](const std::vector<json>& answers, double wall_s) {
    json mean;
    for (const char* k : {"search", "prompt", "queue", "prefill", "decode", "total"}) {
      double sum = 0;
      for (const auto& a : answers) sum += a["timings_ms"][k].get<double>();
      mean[k] = sum / answers.size();
    }
    return json{{"wall_s", wall_s}, {"queries_per_s", answers.size() / wall_s}, {"mean_ms", mean}};
  };
  std::vector<json> one_by_one, together(f.rag_queries);
  json seq = with_server(model, f, f.rag_queries, true, dir.string(), [&](int port) {
    json docs = json::array();
    for (int i = 0; i < 40; ++i) {
      std::string text;
      for (int k = 0; k < 3; ++k)
        text += fmt::format("Document {} says that the number {} is kept in bucket {}. ", i, i, i * 7 % 13);
      docs.push_back({{"key", fmt::format("doc{}", i)}, {"text", text}});
    }
    httplib::Client cl("127.0.0.1", port);
    post_ok(cl, "/v1/documents", {{"documents", docs}});
    Timer t;
    for (int i = 0; i < f.rag_queries; ++i) one_by_one.push_back(ask(port, i));
    return summary(one_by_one, t.seconds());
  });
  json conc = with_server(model, f, f.rag_queries, true, dir.string(), [&](int port) {
    Timer t;
    std::vector<std::thread> ts;
    std::exception_ptr err;
    std::mutex mu;
    for (int i = 0; i < f.rag_queries; ++i)
      ts.emplace_back([&, i] {
        try {
          together[i] = ask(port, i);
        } catch (...) {
          std::lock_guard lk(mu);
          err = std::current_exception();
        }
      });
    for (auto& th : ts) th.join();
    if (err) std::rethrow_exception(err);
    return summary(together, t.seconds());
  });
  std::filesystem::remove_all(dir);
  int identical = 0;
  for (int i = 0; i < f.rag_queries; ++i) identical += one_by_one[i]["answer"] == together[i]["answer"];
  return {{"queries", f.rag_queries},
          {"prompt_tokens_mean", one_by_one[0]["tokens"]["prompt"]},
          {"sequential", seq},
          {"concurrent", conc},
          {"identical_answers", identical}};
}

}  // namespace

json run_serve_bench(const ServeBenchOptions& f) {
  EDGERAG_CHECK(!f.clients.empty(), "bench serve: no --clients");
  const int max_clients = *std::max_element(f.clients.begin(), f.clients.end());
  EDGERAG_CHECK(*std::min_element(f.clients.begin(), f.clients.end()) >= 1 && max_clients <= 256 && f.requests >= 1,
                "bench serve: bad --clients/--requests");
  EDGERAG_CHECK(f.rag_queries >= 0 && f.rag_queries <= 256, "bench serve: --rag takes 0..256 queries");
  auto chat = [&](const std::string& system, const std::string& user) {
    json msgs = json::array();
    if (!system.empty()) msgs.push_back({{"role", "system"}, {"content", system}});
    msgs.push_back({{"role", "user"}, {"content", user}});
    return json{{"model", std::filesystem::path(f.model).stem().string()}, {"messages", msgs},
                {"max_tokens", f.max_tokens}, {"temperature", 0}, {"stream", true},
                {"stream_options", {{"include_usage", true}}}};
  };
  auto story = [&](int c, int r) { return chat("", fmt::format("Tell story number {} about a dog named Rex {}.", c, r)); };
  std::string system;
  for (int i = 0; i < f.system_words; ++i) system += i % 12 == 11 ? "rules. " : "assistant ";
  // One warm-up request computes the system prompt, then 4 clients reuse it.
  auto shared_prefix = [&](const Target& t) {
    drive(t, 1, 1, [&](int, int) { return chat(system, "Hello."); });
    return drive(t, 4, f.requests, [&](int c, int r) {
             return chat(system, fmt::format("Question {} from user {}?", r, c));
           }).to_json();
  };
  json report;
  report["model"] = f.model;
  report["max_tokens"] = f.max_tokens;
  if (!f.server.empty()) {  // a running server (a front end over a pool): its settings are its own
    const size_t colon = f.server.rfind(':');
    Target t;
    t.host = f.server.substr(0, colon);
    EDGERAG_CHECK(colon != std::string::npos && !t.host.empty() &&
                      std::from_chars(f.server.data() + colon + 1, f.server.data() + f.server.size(), t.port).ptr ==
                          f.server.data() + f.server.size() && t.port > 0 && t.port < 65536,
                  "bench serve --server {}: expected HOST:PORT", f.server);
    report["server"] = f.server;
    json rows = json::array();
    for (int n : f.clients) rows.push_back(drive(t, n, f.requests, story).to_json());
    report["concurrency"] = std::move(rows);
    report["shared_prefix"] = shared_prefix(t);
    return report;
  }
  report["speculative"] = speculative_name(f.spec);
  report["concurrency"] = with_server(f.model, f, max_clients, true, "", [&](int port) {
    json rows = json::array();
    for (int n : f.clients)
      rows.push_back(drive({.port = port}, n, f.requests, story).to_json());
    return rows;
  });
  for (bool cache : {false, true})
    report["prefix_cache"][cache ? "on" : "off"] =
        with_server(f.model, f, max_clients, cache, "", [&](int port) { return shared_prefix({.port = port}); });
  if (f.rag_queries > 0) report["rag_query"] = bench_rag(f.model, f);
  return report;
}

}  // namespace edgerag
