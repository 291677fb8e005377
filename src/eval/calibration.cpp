#include "eval/calibration.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace edgerag {

Reliability reliability(const std::vector<double>& confidence, const std::vector<bool>& correct, int n_bins) {
  EDGERAG_CHECK(n_bins >= 1 && n_bins <= 1000, "calibration: {} bins (1-1000)", n_bins);
  EDGERAG_CHECK(confidence.size() == correct.size(), "calibration: {} confidences for {} outcomes", confidence.size(),
                correct.size());
  Reliability r;
  r.n = static_cast<int>(confidence.size());
  for (int b = 0; b < n_bins; ++b) r.bins.push_back({static_cast<double>(b) / n_bins, static_cast<double>(b + 1) / n_bins});
  for (size_t i = 0; i < confidence.size(); ++i) {
    const double c = std::isfinite(confidence[i]) ? std::clamp(confidence[i], 0.0, 1.0) : 0.0;
    ReliabilityBin& bin = r.bins[std::min(n_bins - 1, static_cast<int>(c * n_bins))];
    ++bin.n;
    bin.mean_confidence += c;
    bin.accuracy += correct[i];
    r.mean_confidence += c;
    r.accuracy += correct[i];
  }
  for (auto& bin : r.bins) {
    if (!bin.n) continue;
    bin.mean_confidence /= bin.n;
    bin.accuracy /= bin.n;
    r.ece += static_cast<double>(bin.n) / r.n * std::fabs(bin.accuracy - bin.mean_confidence);
  }
  if (r.n) r.mean_confidence /= r.n, r.accuracy /= r.n;
  return r;
}

}  // namespace edgerag
