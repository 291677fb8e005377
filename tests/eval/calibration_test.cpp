#include "eval/calibration.h"

#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace edgerag {
namespace {

// Five answers in 4 bins, worked by hand:
//   [0, .25):   0.1 (wrong)                    conf .1,  acc 0   |gap| .1
//   [.25, .5):  none
//   [.5, .75):  0.6 (right), 0.7 (wrong)       conf .65, acc .5  |gap| .15
//   [.75, 1]:   0.9 (right), 1.0 (right)       conf .95, acc 1   |gap| .05
//   ECE = 1/5 * .1 + 2/5 * .15 + 2/5 * .05 = .02 + .06 + .02 = .10
TEST(Calibration, ReliabilityTableAndEceByHand) {
  const Calibration c = calibrate({0.1, 0.6, 0.7, 0.9, 1.0}, {0, 1, 0, 1, 1}, 4);
  ASSERT_EQ(c.bins.size(), 4u);
  EXPECT_EQ(c.n, 5);
  EXPECT_DOUBLE_EQ(c.bins[1].lo, 0.25);
  EXPECT_DOUBLE_EQ(c.bins[1].hi, 0.5);
  EXPECT_EQ(c.bins[0].n, 1);
  EXPECT_EQ(c.bins[1].n, 0);
  EXPECT_EQ(c.bins[2].n, 2);
  EXPECT_EQ(c.bins[3].n, 2);  // 1.0 falls in the last bin
  EXPECT_NEAR(c.bins[0].mean_confidence, 0.1, 1e-12);
  EXPECT_NEAR(c.bins[2].mean_confidence, 0.65, 1e-12);
  EXPECT_NEAR(c.bins[2].accuracy, 0.5, 1e-12);
  EXPECT_NEAR(c.bins[3].mean_confidence, 0.95, 1e-12);
  EXPECT_NEAR(c.bins[3].accuracy, 1.0, 1e-12);
  EXPECT_NEAR(c.ece, 0.10, 1e-12);
  const auto j = to_json(c);
  EXPECT_NEAR(j["ece"].get<double>(), 0.10, 1e-12);
  EXPECT_EQ(j["bins"][2]["n"], 2);
}

// Partial credit (F1) counts as a fraction; out-of-range and NaN confidences are clamped.
TEST(Calibration, PartialCreditAndHostileInputs) {
  const Calibration c = calibrate({-3.0, 7.0, std::nan("")}, {0.5, 1.0, 0.0}, 2);
  EXPECT_EQ(c.bins[0].n, 2);  // -3 -> 0 and NaN -> 0
  EXPECT_EQ(c.bins[1].n, 1);  // 7 -> 1
  EXPECT_NEAR(c.bins[0].accuracy, 0.25, 1e-12);
  // 2/3 * |.25 - 0| + 1/3 * |1 - 1|
  EXPECT_NEAR(c.ece, 2.0 / 3 * 0.25, 1e-12);
  EXPECT_DOUBLE_EQ(calibrate({}, {}, 3).ece, 0.0);
  EXPECT_THROW(calibrate({0.5}, {}, 3), Error);
  EXPECT_THROW(calibrate({0.5}, {1}, 0), Error);
}

}  // namespace
}  // namespace edgerag
