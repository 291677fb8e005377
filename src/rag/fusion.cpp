#include "rag/fusion.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace edgerag::rag {

std::vector<std::pair<int64_t, double>> reciprocal_rank_fusion(const std::vector<std::vector<int64_t>>& lists,
                                                               double k) {
  std::unordered_map<int64_t, double> score;
  for (const auto& list : lists)
    for (size_t r = 0; r < list.size(); ++r) score[list[r]] += 1.0 / (k + static_cast<double>(r + 1));
  std::vector<std::pair<int64_t, double>> out(score.begin(), score.end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  return out;
}

double top_overlap(const std::vector<int64_t>& a, const std::vector<int64_t>& b, size_t n) {
  size_t na = std::min(n, a.size()), nb = std::min(n, b.size());
  if (na == 0 || nb == 0) return 0;
  std::unordered_set<int64_t> top_b(b.begin(), b.begin() + static_cast<ptrdiff_t>(nb));
  size_t shared = 0;
  for (size_t i = 0; i < na; ++i) shared += top_b.count(a[i]);
  return static_cast<double>(shared) / static_cast<double>(std::max(na, nb));
}

}  // namespace edgerag::rag
