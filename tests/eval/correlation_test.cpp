#include "eval/correlation.h"

#include <cmath>

#include <gtest/gtest.h>

#include "util/error.h"

using namespace edgerag;

TEST(Correlation, PearsonByHand) {
  // x = 1,2,3,4, y = 2,4,5,9: means 2.5 and 5; Sxy = 11, Sxx = 5, Syy = 26.
  EXPECT_NEAR(pearson({1, 2, 3, 4}, {2, 4, 5, 9}), 11.0 / std::sqrt(5.0 * 26.0), 1e-12);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  EXPECT_EQ(pearson({1, 1, 1}, {1, 2, 3}), 0.0);  // constant side
  EXPECT_EQ(pearson({1}, {2}), 0.0);
  EXPECT_THROW(pearson({1, 2}, {1}), Error);
}

TEST(Correlation, SpearmanRanksWithTies) {
  // Monotone but not linear: rho 1, r below 1.
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 10, 100, 1000}), 1.0, 1e-12);
  EXPECT_LT(pearson({1, 2, 3, 4}, {1, 10, 100, 1000}), 0.99);
  // y ranks with a tie: 1, 2.5, 2.5, 4 against x ranks 1..4: Sxy = 4.5, Sxx = 5, Syy = 4.5.
  EXPECT_NEAR(spearman({10, 20, 30, 40}, {0, 0.5, 0.5, 1}), 4.5 / std::sqrt(5.0 * 4.5), 1e-12);
}
