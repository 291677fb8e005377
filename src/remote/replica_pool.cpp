#include "remote/replica_pool.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/error.h"

namespace edgerag::remote {

std::vector<std::string> split_backend_urls(const std::string& list, const char* flag) {
  std::vector<std::string> urls;
  size_t from = 0;
  for (;;) {
    const size_t comma = std::min(list.find(',', from), list.size());
    std::string u = list.substr(from, comma - from);
    while (!u.empty() && u.back() == '/') u.pop_back();
    EDGERAG_CHECK(u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0,
                  "{} '{}': expected http(s) URLs such as http://host:8000/v1, separated by commas", flag, u);
    EDGERAG_CHECK(std::none_of(u.begin(), u.end(), [](unsigned char c) { return c <= ' ' || c == '"' || c == '\\' || c >= 0x7f; }),
                  "{}: a URL with a space, quote, backslash or non-ASCII byte", flag);  // URLs are metric labels
    EDGERAG_CHECK(std::find(urls.begin(), urls.end(), u) == urls.end(), "{}: {} is listed twice", flag, u);
    urls.push_back(std::move(u));
    if (comma == list.size()) return urls;
    from = comma + 1;
  }
}

ReplicaPool::ReplicaPool(std::vector<std::string> urls, PoolOptions opt)
    : urls_(std::move(urls)), opt_(opt), retry_tokens_(opt.retry_min) {
  EDGERAG_CHECK(!urls_.empty(), "a backend pool needs at least one URL");
  replicas_.assign(urls_.size(), Replica{.breaker = CircuitBreaker(opt_.breaker)});
  if (opt_.health_interval_ms > 0)
    health_ = std::thread([this] {
      std::unique_lock lk(mu_);
      while (!stop_cv_.wait_for(lk, std::chrono::milliseconds(opt_.health_interval_ms), [this] { return stopping_; })) {
        lk.unlock();
        check_health();
        lk.lock();
      }
    });
}

ReplicaPool::~ReplicaPool() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (health_.joinable()) health_.join();
}

std::optional<ReplicaPool::Lease> ReplicaPool::acquire(const std::vector<uint64_t>& keys,
                                                       const std::vector<size_t>& exclude) {
  const auto now = CircuitBreaker::Clock::now();
  std::lock_guard lk(mu_);
  auto usable = [&](size_t i) {
    return std::find(exclude.begin(), exclude.end(), i) == exclude.end() && replicas_[i].breaker.available(now);
  };
  std::optional<size_t> least;
  for (size_t k = 0; k < replicas_.size(); ++k) {
    const size_t i = (turn_ + k) % replicas_.size();
    if (usable(i) && (!least || replicas_[i].outstanding < replicas_[*least].outstanding)) least = i;
  }
  if (!least) return std::nullopt;
  turn_ = (*least + 1) % replicas_.size();
  Lease lease{*least, false};
  for (auto k = keys.rbegin(); k != keys.rend(); ++k) {  // the longest prefix seen before decides
    const auto it = affinity_.find(*k);
    if (it == affinity_.end()) continue;
    if (usable(it->second) && replicas_[it->second].outstanding < replicas_[*least].outstanding + opt_.affinity_slack)
      lease = {it->second, true};
    break;
  }
  for (uint64_t k : keys) remember(k, lease.replica);
  Replica& r = replicas_[lease.replica];
  r.breaker.admit();
  r.outstanding++;
  r.requests++;
  r.affinity_hits += lease.affinity_hit;
  retry_tokens_ = std::min<double>(retry_tokens_ + opt_.retry_ratio, opt_.retry_max);
  return lease;
}

void ReplicaPool::remember(uint64_t key, size_t replica) {
  auto [it, added] = affinity_.insert_or_assign(key, replica);
  if (!added) return;
  affinity_order_.push_back(key);
  if (affinity_order_.size() > opt_.affinity_entries) {
    affinity_.erase(affinity_order_.front());
    affinity_order_.pop_front();
  }
}

void ReplicaPool::release(size_t replica, Outcome outcome, double seconds) {
  const auto now = CircuitBreaker::Clock::now();
  std::lock_guard lk(mu_);
  Replica& r = replicas_.at(replica);
  r.outstanding--;
  r.finished++;
  r.latency_s += seconds;
  if (outcome == Outcome::Ok) r.breaker.success();
  if (outcome == Outcome::Failed) r.breaker.failure(now);
  r.errors += outcome != Outcome::Ok;
}

bool ReplicaPool::take_retry() {
  std::lock_guard lk(mu_);
  if (retry_tokens_ < 1) return false;
  retry_tokens_ -= 1;
  retries_++;
  return true;
}

void ReplicaPool::check_health() {
  for (size_t i = 0; i < urls_.size(); ++i) {
    // /health next to the OpenAI base (llama-server, vLLM, TGI, edgerag), else the model list.
    std::string root = urls_[i];
    if (root.size() >= 3 && root.compare(root.size() - 3, 3, "/v1") == 0) root.resize(root.size() - 3);
    HttpResult h = http_json(root + "/health", "", opt_.health_http);
    if (h.status == 404) h = http_json(urls_[i] + "/models", "", opt_.health_http);
    const bool ok = h.status >= 200 && h.status < 300;
    const auto now = CircuitBreaker::Clock::now();
    std::lock_guard lk(mu_);
    CircuitBreaker& b = replicas_[i].breaker;
    if (!ok) b.trip(now);
    else if (b.state() != CircuitBreaker::State::Closed && b.available(now)) b.success();  // the half-open probe passed
  }
}

std::vector<ReplicaPool::ReplicaStats> ReplicaPool::stats() const {
  std::lock_guard lk(mu_);
  std::vector<ReplicaStats> out;
  for (size_t i = 0; i < urls_.size(); ++i) {
    const Replica& r = replicas_[i];
    out.push_back({urls_[i], r.breaker.state(), r.outstanding, r.requests, r.finished, r.errors, r.affinity_hits, r.latency_s});
  }
  return out;
}

uint64_t ReplicaPool::retries() const {
  std::lock_guard lk(mu_);
  return retries_;
}

std::string ReplicaPool::metrics(const std::string& name) const {
  const auto all = stats();
  std::string out;
  auto family = [&](const char* metric, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP edgerag_replica_{} {}\n# TYPE edgerag_replica_{} {}\n", metric, help, metric, type);
    for (const auto& s : all)
      out += fmt::format("edgerag_replica_{}{{backend=\"{}\",replica=\"{}\"}} {}\n", metric, name, s.url, value(s));
  };
  family("requests_total", "counter", "Requests sent to the replica (retries included).",
         [](const ReplicaStats& s) { return double(s.requests); });
  family("errors_total", "counter", "Requests the replica failed (no connection, cut off, busy).",
         [](const ReplicaStats& s) { return double(s.errors); });
  family("affinity_hits_total", "counter", "Requests sent to the replica because it served their prefix last.",
         [](const ReplicaStats& s) { return double(s.affinity_hits); });
  out += "# HELP edgerag_replica_latency_seconds Seconds from sending a request to its end.\n"
         "# TYPE edgerag_replica_latency_seconds summary\n";
  for (const auto& s : all)
    out += fmt::format("edgerag_replica_latency_seconds_sum{{backend=\"{}\",replica=\"{}\"}} {}\n"
                       "edgerag_replica_latency_seconds_count{{backend=\"{}\",replica=\"{}\"}} {}\n",
                       name, s.url, s.latency_s, name, s.url, s.finished);
  family("outstanding", "gauge", "Requests in flight on the replica.",
         [](const ReplicaStats& s) { return double(s.outstanding); });
  family("up", "gauge", "1 when the replica's circuit breaker is closed, 0.5 half-open, 0 open.", [](const ReplicaStats& s) {
    return s.state == CircuitBreaker::State::Closed ? 1.0 : s.state == CircuitBreaker::State::HalfOpen ? 0.5 : 0.0;
  });
  out += fmt::format("# TYPE edgerag_backend_retries_total counter\nedgerag_backend_retries_total{{backend=\"{}\"}} {}\n",
                     name, retries());
  return out;
}

}  // namespace edgerag::remote
