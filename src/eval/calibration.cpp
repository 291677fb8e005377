#include "eval/calibration.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace edgerag {

Calibration calibrate(const std::vector<double>& confidence, const std::vector<double>& correct, int n_bins) {
  EDGERAG_CHECK(confidence.size() == correct.size(), "calibrate: {} confidences for {} outcomes", confidence.size(),
                correct.size());
  EDGERAG_CHECK(n_bins >= 1 && n_bins <= 1000, "calibrate: bins must be in [1, 1000], got {}", n_bins);
  Calibration c;
  c.n = static_cast<int>(confidence.size());
  c.bins.resize(n_bins);
  for (int b = 0; b < n_bins; ++b) {
    c.bins[b].lo = static_cast<double>(b) / n_bins;
    c.bins[b].hi = static_cast<double>(b + 1) / n_bins;
  }
  for (size_t i = 0; i < confidence.size(); ++i) {
    const double p = std::isfinite(confidence[i]) ? std::clamp(confidence[i], 0.0, 1.0) : 0.0;
    ReliabilityBin& bin = c.bins[std::min(n_bins - 1, static_cast<int>(p * n_bins))];
    ++bin.n;
    bin.mean_confidence += p;
    bin.accuracy += correct[i];
  }
  for (ReliabilityBin& bin : c.bins) {
    if (bin.n == 0) continue;
    bin.mean_confidence /= bin.n;
    bin.accuracy /= bin.n;
    c.ece += static_cast<double>(bin.n) / c.n * std::abs(bin.accuracy - bin.mean_confidence);
  }
  return c;
}

nlohmann::json to_json(const Calibration& c) {
  nlohmann::json bins = nlohmann::json::array();
  for (const ReliabilityBin& b : c.bins)
    bins.push_back({{"lo", b.lo}, {"hi", b.hi}, {"n", b.n}, {"mean_confidence", b.mean_confidence},
                    {"accuracy", b.accuracy}});
  return {{"n", c.n}, {"ece", c.ece}, {"bins", std::move(bins)}};
}

}  // namespace edgerag
