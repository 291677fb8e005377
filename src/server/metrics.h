// Server metrics in the Prometheus text exposition format: request counters
// by endpoint and status, latency histograms (TTFT, per stage, per request)
// and gauges sampled when /metrics is scraped.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace edgerag::server {

class Metrics {
 public:
  // Gauges read at scrape time: name -> (help, value).
  using GaugeFn = std::function<std::vector<std::pair<std::string, std::pair<std::string, double>>>()>;

  void count_request(const std::string& endpoint, int status);
  void add(const std::string& counter, double v);  // edgerag_<counter>_total
  // Latency histograms in seconds: "ttft", "request", or "stage" with a stage label.
  void observe_seconds(const std::string& histogram, double seconds, const std::string& stage = "");
  void set_gauges(GaugeFn fn);

  std::string render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative counts per bound in kBounds
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, double> counters_;
  std::map<std::pair<std::string, std::string>, Histogram> histograms_;
  GaugeFn gauges_;
};

}  // namespace edgerag::server
