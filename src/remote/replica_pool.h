// A pool of replicas of one backend (the URLs of --llm-backend A,B,C, or of
// --embed-backend / --rerank-backend): which replica a request goes to, and
// what each has done.
//  - least outstanding requests among the available replicas (ties in turn);
//  - prefix affinity: a request with affinity keys (remote/prefix_key.h)
//    goes to the replica that served its longest known key last, so its
//    prefix cache is reused, unless that replica is unavailable or has
//    `affinity_slack` more requests outstanding than the least loaded one
//    (then the keys move);
//  - a circuit breaker per replica (remote/circuit_breaker.h) fed by request
//    outcomes and by a health check thread (GET /health, else /v1/models);
//  - a retry budget shared by the pool: `retry_min` retries, plus
//    `retry_ratio` per request, at most `retry_max` banked, so a dead replica
//    does not double the load on the others for long.
// Thread-safe.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "remote/circuit_breaker.h"
#include "remote/http_client.h"

namespace edgerag::remote {

struct PoolOptions {
  int affinity_slack = 4;
  size_t affinity_entries = 4096;  // keys remembered (oldest forgotten first)
  double retry_ratio = 0.2;
  int retry_min = 8, retry_max = 64;
  BreakerOptions breaker = {};
  int health_interval_ms = 1000;  // 0: no health checks
  HttpOptions health_http = {.connect_timeout_ms = 500, .timeout_ms = 2000};
};

// "A,B,C" -> its URLs, each checked to be http(s) and without trailing '/'.
std::vector<std::string> split_backend_urls(const std::string& list, const char* flag);

class ReplicaPool {
 public:
  enum class Outcome {
    Ok,       // answered (an HTTP error the client caused counts here too)
    Busy,     // 429 / 503: not a fault of the replica, retried elsewhere
    Failed,   // no connection, or cut off: counts against its breaker
  };
  struct Lease {
    size_t replica;
    bool affinity_hit;
  };
  struct ReplicaStats {
    std::string url;
    CircuitBreaker::State state;
    int outstanding;
    uint64_t requests, finished, errors, affinity_hits;
    double latency_s;  // sum over finished requests
  };

  ReplicaPool(std::vector<std::string> urls, PoolOptions opt);
  ~ReplicaPool();
  ReplicaPool(const ReplicaPool&) = delete;
  ReplicaPool& operator=(const ReplicaPool&) = delete;

  size_t size() const { return urls_.size(); }
  const std::string& url(size_t i) const { return urls_[i]; }
  // A replica for one request (keys shortest first; none: no affinity),
  // skipping `exclude`; none when every other replica is open or excluded.
  std::optional<Lease> acquire(const std::vector<uint64_t>& keys, const std::vector<size_t>& exclude = {});
  void release(size_t replica, Outcome outcome, double seconds);
  bool take_retry();  // false once the budget is spent
  void check_health();  // one round of health checks (the thread runs it every interval)
  std::vector<ReplicaStats> stats() const;
  uint64_t retries() const;
  // Prometheus text: per replica requests, errors, latency, affinity hits,
  // outstanding and breaker state, labelled backend="<name>", replica="<url>".
  std::string metrics(const std::string& name) const;

 private:
  struct Replica {
    CircuitBreaker breaker;
    int outstanding = 0;
    uint64_t requests = 0, finished = 0, errors = 0, affinity_hits = 0;
    double latency_s = 0;
  };
  void remember(uint64_t key, size_t replica);

  const std::vector<std::string> urls_;
  const PoolOptions opt_;
  mutable std::mutex mu_;
  std::vector<Replica> replicas_;
  std::unordered_map<uint64_t, size_t> affinity_;
  std::deque<uint64_t> affinity_order_;  // insertion order, for forgetting
  size_t turn_ = 0;
  double retry_tokens_;
  uint64_t retries_ = 0;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread health_;
};

}  // namespace edgerag::remote
