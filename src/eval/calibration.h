// Calibration of a confidence in [0, 1] against observed correctness: a
// reliability table (equal-width confidence bins, the mean confidence and the
// accuracy in each) and the expected calibration error
//   ECE = sum over bins of (n_bin / n) * |accuracy_bin - mean_confidence_bin|,
// from which an abstention threshold (ask --min-confidence) can be chosen.
#pragma once
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace edgerag {

struct ReliabilityBin {
  double lo = 0, hi = 0;  // [lo, hi); the last bin includes 1
  int n = 0;
  double mean_confidence = 0, accuracy = 0;  // 0 when empty
};

struct Calibration {
  std::vector<ReliabilityBin> bins;
  int n = 0;
  double ece = 0;
};

// confidence[i] (clamped to [0, 1]) against correct[i] in [0, 1] (EM, or F1
// for partial credit). Throws edgerag::Error for sizes that differ or n_bins < 1.
Calibration calibrate(const std::vector<double>& confidence, const std::vector<double>& correct, int n_bins = 10);
// {n, ece, bins:[{lo, hi, n, mean_confidence, accuracy}]}
nlohmann::json to_json(const Calibration& c);

}  // namespace edgerag
