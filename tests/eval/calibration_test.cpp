#include "eval/calibration.h"

#include <gtest/gtest.h>

#include "util/error.h"

using namespace edgerag;

TEST(Calibration, ReliabilityAndEceByHand) {
  // 4 bins of 0.25. Bin [0, .25): 0.1 wrong, 0.2 right -> conf 0.15, acc 0.5, gap 0.35.
  // Bin [.5, .75): 0.6 right -> gap 0.4. Bin [.75, 1]: 0.9 right, 1.0 right, 1.3 (clamped to
  // 1) wrong -> conf 2.9 / 3, acc 2/3, gap 0.3. ECE = (2 x 0.35 + 1 x 0.4 + 3 x 0.3) / 6 = 1/3.
  const Reliability r = reliability({0.1, 0.2, 0.6, 0.9, 1.0, 1.3}, {false, true, true, true, true, false}, 4);
  ASSERT_EQ(r.bins.size(), 4u);
  EXPECT_EQ(r.n, 6);
  EXPECT_EQ(r.bins[0].n, 2);
  EXPECT_NEAR(r.bins[0].mean_confidence, 0.15, 1e-12);
  EXPECT_NEAR(r.bins[0].accuracy, 0.5, 1e-12);
  EXPECT_EQ(r.bins[1].n, 0);
  EXPECT_EQ(r.bins[2].n, 1);
  EXPECT_EQ(r.bins[3].n, 3);
  EXPECT_NEAR(r.bins[3].mean_confidence, 2.9 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(r.bins[3].hi, 1.0);
  EXPECT_NEAR(r.ece, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.accuracy, 4.0 / 6, 1e-12);
  EXPECT_NEAR(r.mean_confidence, (0.1 + 0.2 + 0.6 + 0.9 + 1.0 + 1.0) / 6, 1e-12);
}

TEST(Calibration, PerfectAndEmpty) {
  // Confidence 0 always wrong, 1 always right: calibrated.
  EXPECT_EQ(reliability({0, 0, 1}, {false, false, true}).ece, 0.0);
  const Reliability e = reliability({}, {});
  EXPECT_EQ(e.n, 0);
  EXPECT_EQ(e.ece, 0.0);
  EXPECT_THROW(reliability({0.5}, {}), Error);
  EXPECT_THROW(reliability({0.5}, {true}, 0), Error);
}
