// How well a confidence in [0, 1] predicts correctness: the reliability table
// (equal-width confidence bins; per bin the mean confidence and the observed
// accuracy) and the expected calibration error, ECE = sum over bins of
// n_bin / N x |accuracy_bin - mean confidence_bin|. A well-calibrated figure
// has accuracy ~ confidence in every bin (ECE 0); `eval qa --mode rag` reports
// both for the answer engine's confidence (rag/confidence.h).
#pragma once
#include <vector>

namespace edgerag {

struct ReliabilityBin {
  double lo = 0, hi = 0;  // [lo, hi), the last bin includes 1
  int n = 0;
  double mean_confidence = 0, accuracy = 0;  // 0 when n = 0
};

struct Reliability {
  std::vector<ReliabilityBin> bins;
  int n = 0;
  double ece = 0;
  double mean_confidence = 0, accuracy = 0;  // over all items
};

// confidence[i] (clamped to [0, 1]) against correct[i]; n_bins >= 1.
Reliability reliability(const std::vector<double>& confidence, const std::vector<bool>& correct, int n_bins = 10);

}  // namespace edgerag
