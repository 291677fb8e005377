#include "eval/roofline.h"

#include <gtest/gtest.h>

#include "util/error.h"

using namespace edgerag;

TEST(Roofline, MeasuresAPositiveRateAndMfuByHand) {
  const RooflineResult r = gemm_roofline({.size = 64, .tokens = 8, .threads = 1, .min_seconds = 0.01});
  EXPECT_GT(r.gflops, 0.0);
  EXPECT_GE(r.reps, 3);
  EXPECT_EQ(r.threads, 1);
  // 260K parameters at 1000 tok/s = 0.52 GFLOP/s: 5.2% of a 10 GFLOP/s peak.
  EXPECT_NEAR(model_flops_utilization(260e3, 1000, 10), 0.052, 1e-12);
  EXPECT_EQ(model_flops_utilization(260e3, 1000, 0), 0.0);
  EXPECT_THROW(gemm_roofline({.size = 1}), Error);
}
