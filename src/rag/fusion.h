// Rank fusion and agreement between retrievers (hybrid search).
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace edgerag::rag {

// Reciprocal rank fusion: score(d) = sum over lists containing d of 1 / (k + rank),
// rank 1-based. Best first; ties by smaller id.
std::vector<std::pair<int64_t, double>> reciprocal_rank_fusion(const std::vector<std::vector<int64_t>>& lists,
                                                               double k);

// Fraction of the top `n` of `a` also in the top `n` of `b` (0 when either is empty).
double top_overlap(const std::vector<int64_t>& a, const std::vector<int64_t>& b, size_t n);

}  // namespace edgerag::rag
