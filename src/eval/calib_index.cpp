#include "eval/calib_index.h"

#include <algorithm>

#include "rag/index.h"
#include "util/error.h"

namespace edgerag {

std::string calibration_text_from_index(const std::string& dir, size_t max_chunks, size_t max_bytes) {
  auto index = rag::Index::open(dir);  // read-only
  const size_t n = index->stats().chunks;
  EDGERAG_CHECK(n > 0, "index {} holds no chunk to calibrate on", dir);
  // Chunk ids run from 1; removed documents leave gaps, which are skipped (and looked
  // past, up to twice the count, so a few gaps do not starve the sample).
  const size_t want = std::min(max_chunks, n);
  const size_t step = std::max<size_t>(1, n / want);
  std::string text;
  size_t taken = 0;
  for (size_t id = 1; id <= 2 * n && taken < want; id += step) {
    const auto hit = index->chunk(static_cast<int64_t>(id));
    if (!hit || hit->text.empty()) continue;
    if (text.size() + hit->text.size() + 1 > max_bytes) break;
    text += hit->text + "\n";
    ++taken;
  }
  EDGERAG_CHECK(taken > 0, "index {}: no chunk text found to calibrate on", dir);
  return text;
}

}  // namespace edgerag
