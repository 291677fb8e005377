// Sentence packing under a token budget, overlap, fragment merging and byte provenance.
#include <gtest/gtest.h>

#include "rag/chunker.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

ParsedDocument prose(const std::string& text, const std::string& headings = "") {
  ParsedDocument d;
  Block b;
  b.text = text;
  b.headings = headings;
  b.byte_begin = 100;  // as if the block started at byte 100 of its file
  b.byte_end = 100 + static_cast<int64_t>(text.size());
  d.blocks.push_back(b);
  return d;
}

TEST(Chunker, SplitsSentencesWithIcu) {
  std::string t = "Mr. Smith arrived.  Was it late? Yes!\nNew line here";
  auto s = split_sentences(t);
  std::vector<std::string> got;
  for (auto [b, e] : s) got.push_back(t.substr(b, e - b));
  EXPECT_EQ(got, (std::vector<std::string>{"Mr. Smith arrived.", "Was it late?", "Yes!", "New line here"}));
}

TEST(Chunker, CountsWords) {
  EXPECT_EQ(count_words("  one two\tthree\nfour "), 4u);
  EXPECT_EQ(count_words(""), 0u);
}

TEST(Chunker, PacksSentencesWithOverlap) {
  // Five sentences of 3 words; budget 7 words -> 2 sentences per chunk, 1 overlapping.
  std::string t = "A1 b1 c1. A2 b2 c2. A3 b3 c3. A4 b4 c4. A5 b5 c5.";
  auto c = chunk_document(prose(t, "H"), ChunkOptions{7, 1, 1}, count_words);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].text, "A1 b1 c1. A2 b2 c2.");
  EXPECT_EQ(c[1].text, "A2 b2 c2. A3 b3 c3.");
  EXPECT_EQ(c[3].text, "A4 b4 c4. A5 b5 c5.");
  for (const auto& ch : c) {
    EXPECT_EQ(ch.headings, "H");
    EXPECT_EQ(ch.n_tokens, 6u);
    // Byte range maps back into the source.
    EXPECT_EQ(t.substr(ch.byte_begin - 100, ch.byte_end - ch.byte_begin), ch.text);
  }
}

TEST(Chunker, NoOverlapWhenItWouldNotFit) {
  std::string t = "One two three four. Five six seven eight.";
  auto c = chunk_document(prose(t), ChunkOptions{5, 1, 1}, count_words);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].text, "Five six seven eight.");
}

TEST(Chunker, MergesSmallTrailingFragment) {
  std::string t = "A b c d e. F g h i j. K.";
  auto merged = chunk_document(prose(t), ChunkOptions{11, 0, 3}, count_words);
  ASSERT_EQ(merged.size(), 1u);
  auto split = chunk_document(prose(t), ChunkOptions{10, 0, 1}, count_words);
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[1].text, "K.");
  // Merging never breaks the budget.
  auto kept = chunk_document(prose(t), ChunkOptions{10, 0, 3}, count_words);
  EXPECT_EQ(kept.size(), 2u);
}

TEST(Chunker, SplitsOverlongSentenceAtWords) {
  std::string t = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11";
  auto c = chunk_document(prose(t), ChunkOptions{4, 1, 1}, count_words);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].text, "w1 w2 w3 w4");
  EXPECT_EQ(c[2].text, "w9 w10 w11");
  for (const auto& ch : c) EXPECT_LE(ch.n_tokens, 4u);
}

TEST(Chunker, SectionsDoNotMix) {
  ParsedDocument d = prose("Intro words here.", "A");
  Block b = d.blocks[0];
  b.headings = "A > B";
  b.text = "Other section.";
  d.blocks.push_back(b);
  b.page = 2;
  d.blocks.push_back(b);
  auto c = chunk_document(d, ChunkOptions{512, 1, 32}, count_words);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[1].headings, "A > B");
  EXPECT_EQ(c[2].page, 2);
}

TEST(Chunker, UsesTheGivenTokenCounter) {
  std::string t = "abcdefgh. abcd.";
  auto chars = [](std::string_view s) { return s.size(); };
  auto c = chunk_document(prose(t), ChunkOptions{10, 0, 1}, chars);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].n_tokens, 9u);
  EXPECT_THROW(chunk_document(prose(t), ChunkOptions{0, 0, 0}, chars), Error);
}

}  // namespace
}  // namespace edgerag::rag
