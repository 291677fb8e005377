// Stop strings across token boundaries and UTF-8 hold-back.
#include <gtest/gtest.h>

#include "runtime/text_stream.h"

#include <random>

#include "util/error.h"

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

// Independent reference: the text is cut where the first stop string ends,
// before the longest stop string ending there.
std::string naive_cut(const std::string& text, const std::vector<std::string>& stops, bool* stopped) {
  for (size_t end = 1; end <= text.size(); ++end) {
    size_t longest = 0;
    for (const auto& s : stops)
      if (s.size() <= end && text.compare(end - s.size(), s.size(), s) == 0) longest = std::max(longest, s.size());
    if (longest > 0) {
      *stopped = true;
      return text.substr(0, end - longest);
    }
  }
  *stopped = false;
  return text;
}

TEST(TextStream, OverlappingStopsMatchANaiveReference) {
  std::mt19937 rng(7);
  auto word = [&](size_t max) {
    std::string w(1 + rng() % max, 'a');
    for (char& c : w) c = static_cast<char>('a' + rng() % 3);  // small alphabet: many overlaps
    return w;
  };
  for (int round = 0; round < 500; ++round) {
    std::vector<std::string> stops;
    for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) stops.push_back(word(5));
    const std::string text = word(40);
    bool want_stop = false;
    const std::string want = naive_cut(text, stops, &want_stop);
    TextStream s(stops);
    std::string got;
    for (size_t at = 0; at < text.size();) {  // pieces of 1..4 bytes
      const size_t n = std::min(text.size() - at, size_t(1 + rng() % 4));
      got += s.push(text.substr(at, n));
      at += n;
    }
    got += s.flush();
    EXPECT_EQ(got, want) << text;
    EXPECT_EQ(s.stopped(), want_stop) << text;
    EXPECT_EQ(s.text(), want);
  }
}

TEST(TextStream, LongStopStringsAreMatchedByteByByte) {
  // A stop string that almost matches over and over (the quadratic case of a
  // suffix-comparing matcher): the stream holds back only what may still match.
  const std::string stop = std::string(TextStream::kMaxStopBytes - 1, 'a') + "b";
  TextStream s({stop});
  std::string released;
  for (int i = 0; i < 20000; ++i) released += s.push("a");
  EXPECT_EQ(released.size(), 20000 - (stop.size() - 1));
  EXPECT_EQ(s.push("b"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), std::string(20000 - (stop.size() - 1), 'a'));
}

TEST(TextStream, StopStringLimits) {
  EXPECT_NO_THROW(TextStream(std::vector<std::string>(TextStream::kMaxStopStrings, "x")));
  EXPECT_THROW(TextStream(std::vector<std::string>(TextStream::kMaxStopStrings + 1, "x")), Error);
  EXPECT_NO_THROW(TextStream({std::string(TextStream::kMaxStopBytes, 'x')}));
  EXPECT_THROW(TextStream({std::string(TextStream::kMaxStopBytes + 1, 'x')}), Error);
}

}  // namespace
}  // namespace edgerag
