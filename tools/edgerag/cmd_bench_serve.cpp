// edgerag bench serve: starts the server in-process on loopback and drives N
// concurrent streaming chat clients; reports throughput and time to first
// token per concurrency level, the effect of the prefix cache on requests
// that share a long system prompt, and (--rag N) RAG queries answered one
// after another versus all at once.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <thread>

#include <httplib.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "kv_type_flag.h"
#include "server/load_models.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag::cli {
namespace {

using nlohmann::json;

struct BenchFlags {
  std::string model;
  std::vector<int> clients = {1, 4, 16};
  int requests = 2;  // per client
  int max_tokens = 32;
  int system_words = 300;  // the shared system prompt of the prefix-cache run
  int threads = 0;
  int64_t kv_tokens = 32768;
  KvType kv_type = DType::F32;
  int rag_queries = 0;  // > 0: also the RAG run with this many questions
  bool json_out = false;
};

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

RunStats drive(int port, int clients, int per_client, const std::function<json(int, int)>& body_of) {
  RunStats st;
  st.clients = clients;
  std::mutex mu;
  Timer wall;
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&, c] {
      for (int r = 0; r < per_client; ++r) {
        httplib::Client cl("127.0.0.1", port);
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
        st.tokens += usage["completion_tokens"].get<uint64_t>();
        st.prompt += usage["prompt_tokens"].get<uint64_t>();
        st.cached += usage["prompt_tokens_details"]["cached_tokens"].get<uint64_t>();
      }
    });
  for (auto& t : ts) t.join();
  st.wall_s = wall.seconds();
  return st;
}

// A server on a free loopback port for the duration of fn(port).
json with_server(const std::string& model, const BenchFlags& f, int max_running, bool prefix_cache,
                 const std::string& index_dir, const std::function<json(int)>& fn) {
  server::LlmOptions lo;
  lo.kv_tokens = f.kv_tokens;
  lo.kv_type = f.kv_type;
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
json bench_rag(const std::string& model, const BenchFlags& f) {
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

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serving throughput and TTFT under N concurrent streaming clients");
  auto f = std::make_shared<BenchFlags>();
  cmd->add_option("-m,--model", f->model, "LLM (GGUF name or path)")->required();
  cmd->add_option("--clients", f->clients, "Concurrency levels")->delimiter(',')->capture_default_str();
  cmd->add_option("--requests", f->requests, "Requests per client")->capture_default_str();
  cmd->add_option("--max-tokens", f->max_tokens, "Tokens generated per request")->capture_default_str();
  cmd->add_option("--system-words", f->system_words, "Words of the shared system prompt (prefix-cache run)")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "Compute threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--kv-tokens", f->kv_tokens, "KV pool (tokens)")->capture_default_str();
  add_kv_type_option(cmd, &f->kv_type);
  cmd->add_option("--rag", f->rag_queries, "Also time this many RAG queries, sequential vs concurrent (0 = skip)")
      ->capture_default_str();
  cmd->add_flag("--json", f->json_out, "Print one JSON object");
  cmd->callback([f] {
    const std::string model = resolve_model_flag(f->model);
    const int max_clients = *std::max_element(f->clients.begin(), f->clients.end());
    EDGERAG_CHECK(max_clients >= 1 && max_clients <= 256 && f->requests >= 1, "bench serve: bad --clients/--requests");
    EDGERAG_CHECK(f->rag_queries >= 0 && f->rag_queries <= 256, "bench serve: --rag takes 0..256 queries");
    auto chat = [&](const std::string& system, const std::string& user) {
      json msgs = json::array();
      if (!system.empty()) msgs.push_back({{"role", "system"}, {"content", system}});
      msgs.push_back({{"role", "user"}, {"content", user}});
      return json{{"model", std::filesystem::path(model).stem().string()}, {"messages", msgs}, {"max_tokens", f->max_tokens}, {"temperature", 0},
                  {"stream", true}, {"stream_options", {{"include_usage", true}}}};
    };
    json report;
    report["model"] = model;
    report["max_tokens"] = f->max_tokens;
    report["concurrency"] = with_server(model, *f, max_clients, true, "", [&](int port) {
      json rows = json::array();
      for (int n : f->clients)
        rows.push_back(drive(port, n, f->requests, [&](int c, int r) {
                         return chat("", fmt::format("Tell story number {} about a dog named Rex {}.", c, r));
                       }).to_json());
      return rows;
    });
    std::string system;
    for (int i = 0; i < f->system_words; ++i) system += i % 12 == 11 ? "rules. " : "assistant ";
    for (bool cache : {false, true})
      report["prefix_cache"][cache ? "on" : "off"] = with_server(model, *f, max_clients, cache, "", [&](int port) {
        // One warm-up request computes the system prompt, then 4 clients reuse it.
        drive(port, 1, 1, [&](int, int) { return chat(system, "Hello."); });
        return drive(port, 4, f->requests, [&](int c, int r) {
                 return chat(system, fmt::format("Question {} from user {}?", r, c));
               }).to_json();
      });
    if (f->rag_queries > 0) report["rag_query"] = bench_rag(model, *f);
    if (f->json_out) {
      std::printf("%s\n", report.dump(1).c_str());
      return;
    }
    std::printf("%s, %d tokens per request\n", model.c_str(), f->max_tokens);
    std::printf("clients  requests  tok/s    TTFT mean  p50      p90      errors\n");
    for (const auto& r : report["concurrency"])
      std::printf("%-8d %-9d %-8.1f %-10.1f %-8.1f %-8.1f %d\n", r["clients"].get<int>(), r["requests"].get<int>(),
                  r["tokens_per_s"].get<double>(), r["ttft_ms_mean"].get<double>(), r["ttft_ms_p50"].get<double>(),
                  r["ttft_ms_p90"].get<double>(), r["errors"].get<int>());
    for (const char* k : {"off", "on"}) {
      const auto& r = report["prefix_cache"][k];
      std::printf("prefix cache %-3s: TTFT mean %.1f ms, p50 %.1f ms, cached %llu of %llu prompt tokens, %.1f tok/s\n", k,
                  r["ttft_ms_mean"].get<double>(), r["ttft_ms_p50"].get<double>(),
                  static_cast<unsigned long long>(r["cached_prompt_tokens"].get<uint64_t>()),
                  static_cast<unsigned long long>(r["prompt_tokens"].get<uint64_t>()), r["tokens_per_s"].get<double>());
    }
    if (report.contains("rag_query")) {
      const auto& r = report["rag_query"];
      std::printf("rag query x%d: sequential %.2f q/s, concurrent %.2f q/s, %d identical answers\n",
                  r["queries"].get<int>(), r["sequential"]["queries_per_s"].get<double>(),
                  r["concurrent"]["queries_per_s"].get<double>(), r["identical_answers"].get<int>());
    }
  });
}

}  // namespace
EDGERAG_COMMAND("bench serve", setup);
}  // namespace edgerag::cli
