#include "eval/calib_index.h"

#include <gtest/gtest.h>

#include "rag/fixtures.h"
#include "rag/index.h"
#include "util/error.h"

using namespace edgerag;

TEST(CalibIndex, SamplesChunkTextsOfTheIndex) {
  test::TempDir dir;
  const std::string idx_dir = dir / "idx";
  {
    auto idx = rag::Index::open(idx_dir, {.writable = true});
    ASSERT_EQ(idx->ingest_texts({{"a.txt", "A", "The garden gate is painted green."},
                                 {"b.txt", "B", "Lily and Tim played with a red ball."},
                                 {"c.txt", "C", "Tomatoes need sun and water."}},
                                {})
                  .failed,
              0u);
  }
  const std::string all = calibration_text_from_index(idx_dir);
  for (const char* s : {"painted green", "red ball", "sun and water"}) EXPECT_NE(all.find(s), std::string::npos) << s;
  // Two of three chunks, evenly spread: ids 1 and 2 (step 1), the third not taken.
  const std::string two = calibration_text_from_index(idx_dir, 2);
  EXPECT_NE(two.find("painted green"), std::string::npos);
  EXPECT_EQ(two.find("sun and water"), std::string::npos);
  // The byte bound stops before a chunk that would pass it.
  EXPECT_THROW(calibration_text_from_index(idx_dir, 256, 4), Error);
  EXPECT_THROW(calibration_text_from_index(dir / "missing"), Error);
}
