#include "server/metrics.h"

#include <fmt/format.h>

namespace edgerag::server {
namespace {

// Seconds: from a fast decode step up to a long answer on a slow CPU.
constexpr double kBounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

}  // namespace

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lk(mu_);
  requests_[{endpoint, status}]++;
}

void Metrics::add(const std::string& counter, double v) {
  std::lock_guard lk(mu_);
  counters_[counter] += v;
}

void Metrics::observe_seconds(const std::string& histogram, double seconds, const std::string& stage) {
  std::lock_guard lk(mu_);
  Histogram& h = histograms_[{histogram, stage}];
  if (h.buckets.empty()) h.buckets.assign(std::size(kBounds), 0);
  for (size_t i = 0; i < std::size(kBounds); ++i) h.buckets[i] += seconds <= kBounds[i];
  h.count++;
  h.sum += seconds;
}

void Metrics::set_gauges(GaugeFn fn) {
  std::lock_guard lk(mu_);
  gauges_ = std::move(fn);
}

std::string Metrics::render() const {
  std::lock_guard lk(mu_);
  std::string out;
  out += "# HELP edgerag_requests_total HTTP requests by endpoint and status.\n";
  out += "# TYPE edgerag_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    out += fmt::format("edgerag_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", k.first, k.second, n);
  for (const auto& [name, v] : counters_) {
    out += fmt::format("# TYPE edgerag_{}_total counter\n", name);
    out += fmt::format("edgerag_{}_total {}\n", name, v);
  }
  std::string last;
  for (const auto& [k, h] : histograms_) {
    const std::string name = fmt::format("edgerag_{}_seconds", k.first);
    if (name != last) out += fmt::format("# TYPE {} histogram\n", name);
    last = name;
    const std::string label = k.second.empty() ? "" : fmt::format("stage=\"{}\",", k.second);
    for (size_t i = 0; i < h.buckets.size(); ++i)
      out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, label, kBounds[i], h.buckets[i]);
    out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, label, h.count);
    const std::string plain = k.second.empty() ? "" : fmt::format("{{stage=\"{}\"}}", k.second);
    out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, plain, h.sum, name, plain, h.count);
  }
  if (gauges_)
    for (const auto& [name, hv] : gauges_()) {
      out += fmt::format("# HELP edgerag_{} {}\n# TYPE edgerag_{} gauge\n", name, hv.first, name);
      out += fmt::format("edgerag_{} {}\n", name, hv.second);
    }
  return out;
}

}  // namespace edgerag::server
