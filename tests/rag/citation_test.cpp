#include "rag/citation.h"

#include <gtest/gtest.h>

namespace edgerag::rag {
namespace {

TEST(Citations, ValidMarkersKeptInOrderOfFirstMention) {
  auto c = check_citations("WAL is faster [2]. It uses a shm file [1][2]. See [3, 1].", 3);
  EXPECT_EQ(c.text, "WAL is faster [2]. It uses a shm file [1][2]. See [3, 1].");
  EXPECT_EQ(c.cited, (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(c.removed, 0);
}

TEST(Citations, InvalidMarkersRemovedAndCounted) {
  auto c = check_citations("Claim one [4]. Claim two [0]. Claim three [2].", 3);
  EXPECT_EQ(c.text, "Claim one. Claim two. Claim three [2].");
  EXPECT_EQ(c.cited, (std::vector<int>{2}));
  EXPECT_EQ(c.removed, 2);
}

TEST(Citations, GroupsKeepTheirValidMembers) {
  auto c = check_citations("x [1, 7; 2] y [9,10]", 2);
  EXPECT_EQ(c.text, "x [1, 2] y");
  EXPECT_EQ(c.cited, (std::vector<int>{1, 2}));
  EXPECT_EQ(c.removed, 3);
}

TEST(Citations, Ranges) {
  auto c = check_citations("a [1-3] b [2-5]", 4);
  EXPECT_EQ(c.text, "a [1-3] b [2, 3, 4]");
  EXPECT_EQ(c.cited, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(c.removed, 1);
  // Reversed and huge ranges are one invalid reference each, not a loop.
  c = check_citations("a [3-1] b [1-999999999]", 4);
  EXPECT_EQ(c.text, "a b");
  EXPECT_EQ(c.removed, 2);
}

TEST(Citations, NonCitationBracketsUntouched) {
  const std::string s = "array[i] [note] [1a] [ ] [] [-1] [12345678901234] [2";
  auto c = check_citations(s, 5);
  EXPECT_EQ(c.text, s);
  EXPECT_TRUE(c.cited.empty());
  EXPECT_EQ(c.removed, 0);
}

TEST(Citations, NoChunksMeansEveryMarkerIsInvalid) {
  auto c = check_citations("[1] [2]", 0);
  EXPECT_EQ(c.text, "");
  EXPECT_EQ(c.removed, 2);
}

}  // namespace
}  // namespace edgerag::rag
