// The load generator behind `edgerag bench serve`: starts the server in-process
// on loopback and drives N concurrent streaming chat clients; throughput and
// time to first token per concurrency level, the effect of the prefix cache on
// requests that share a long system prompt, and (rag_queries > 0) RAG queries
// answered one after another versus all at once.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/kv_cache.h"
#include "runtime/speculative.h"

namespace edgerag {

struct ServeBenchOptions {
  std::string model;                  // LLM file (with `server`: only its name is sent)
  std::string server = {};            // HOST:PORT of a running server to drive instead of starting one
  std::vector<int> clients = {1, 4, 16};
  int requests = 2;                   // per client
  int max_tokens = 32;
  int system_words = 300;             // the shared system prompt of the prefix-cache run
  int threads = 0;
  int64_t kv_tokens = 32768;
  KvType kv_type = default_kv_type();
  int rag_queries = 0;                // > 0: also the RAG run with this many questions
  SpecOptions spec;                   // the server's speculative decoding default
};

// One JSON report: "model", "max_tokens", "concurrency" (a row per level),
// "prefix_cache" {"off", "on"} and, with rag_queries, "rag_query". With
// `server`: "concurrency" and "shared_prefix" (the prefix-cache run as that
// server is configured) measured on it. Throws
// edgerag::Error for bad options or a failed RAG request.
nlohmann::json run_serve_bench(const ServeBenchOptions& opt);

}  // namespace edgerag
