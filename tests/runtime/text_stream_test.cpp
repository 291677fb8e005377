// Stop strings across token boundaries and UTF-8 hold-back.
#include <gtest/gtest.h>

#include "runtime/text_stream.h"

namespace edgerag {
namespace {

TEST(TextStream, StopStringSplitAcrossPiecesIsRemoved) {
  TextStream s({"\nUser:"});
  EXPECT_EQ(s.push("Hello"), "Hello");
  EXPECT_EQ(s.push(" there\n"), " there");  // "\n" may start the stop string
  EXPECT_EQ(s.push("Us"), "");
  EXPECT_EQ(s.push("er: more"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.flush(), "");
  EXPECT_EQ(s.text(), "Hello there");
  EXPECT_EQ(s.push("ignored"), "");
}

TEST(TextStream, FalseStartIsReleased) {
  TextStream s({"END"});
  EXPECT_EQ(s.push("the EN"), "the ");
  EXPECT_EQ(s.push("DING"), "");  // "ENDING" contains END: stop
  EXPECT_TRUE(s.stopped());
  TextStream t({"END"});
  EXPECT_EQ(t.push("E"), "");
  EXPECT_EQ(t.push("x"), "Ex");
  EXPECT_EQ(t.push("E"), "");
  EXPECT_EQ(t.flush(), "E");
  EXPECT_EQ(t.text(), "ExE");
  EXPECT_FALSE(t.stopped());
}

TEST(TextStream, EarliestOfSeveralStopsWins) {
  TextStream s({"bb", "a"});
  EXPECT_EQ(s.push("xxbbya"), "xx");
  EXPECT_EQ(s.text(), "xx");
}

TEST(TextStream, IncompleteUtf8IsHeldBack) {
  TextStream s;
  const std::string euro = "\xE2\x82\xAC";  // U+20AC
  EXPECT_EQ(s.push("a" + euro.substr(0, 1)), "a");
  EXPECT_EQ(s.push(euro.substr(1, 1)), "");
  EXPECT_EQ(s.push(euro.substr(2) + "b"), euro + "b");
  EXPECT_EQ(s.push("\xF0\x9F"), "");
  EXPECT_EQ(s.flush(), "\xF0\x9F");  // raw bytes at the end
}

}  // namespace
}  // namespace edgerag
