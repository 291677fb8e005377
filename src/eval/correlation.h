// Correlation coefficients for the attention-quality tables (attention share or
// drift against answer F1 across questions).
#pragma once
#include <vector>

namespace edgerag {

// Pearson's r; 0 when fewer than 2 points or either side is constant.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman's rho: Pearson's r of the ranks, ties given their average rank.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace edgerag
