// decode(encode(x)) on the llama.cpp fixture strings, with the exceptions the
// vocabularies force (documented per case).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace edgerag {
namespace {

std::vector<std::string> fixture_strings(const std::string& vocab) {
  std::ifstream in(test::golden_path("tokenizer/ggml-vocab-" + vocab + ".gguf.inp"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string inp = ss.str();
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  for (size_t pos = 0, hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
    out.push_back(inp.substr(pos, hit - pos));
  return out;
}

std::unique_ptr<Tokenizer> open_vocab(const std::string& vocab) {
  return Tokenizer::from_gguf(*GgufFile::open(test::golden_path("tokenizer/ggml-vocab-" + vocab + ".gguf")));
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

// SentencePiece with byte fallback reproduces every string, the added prefix
// space included (it is removed again when no BOS precedes).
TEST(RoundTrip, LlamaSpmIsExactOnAllFixtureStrings) {
  auto tok = open_vocab("llama-spm");
  const auto strs = fixture_strings("llama-spm");
  ASSERT_EQ(strs.size(), 46u);
  for (const auto& s : strs) EXPECT_EQ(tok->decode(tok->encode(s, false)), s);
  // With BOS, llama.cpp keeps the prefix space after removing the BOS.
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true)), " Hello world");
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true), /*remove_special=*/false), "<s> Hello world");
}

// Byte-level BPE is lossless; only llama.cpp's detokenizer clean-up of the
// gpt-2 type turns " ?" (and " !", " .", " ,") into "?" — strings 32 and 45.
TEST(RoundTrip, Gpt2IsExactExceptSpaceBeforePunctuation) {
  auto tok = open_vocab("gpt-2");
  const auto strs = fixture_strings("gpt-2");
  ASSERT_EQ(strs.size(), 46u);
  for (size_t i = 0; i < strs.size(); ++i) {
    const std::string expected = (i == 32 || i == 45) ? replace_all(strs[i], " ?", "?") : strs[i];
    ASSERT_NE(i == 32 || i == 45, expected == strs[i]) << i;
    EXPECT_EQ(tok->decode(tok->encode(strs[i], false)), expected) << i;
  }
}

// WordPiece loses case, accents and whitespace; llama.cpp renders word-start
// pieces with a leading space and then removes spaces before ".,!?".
TEST(RoundTrip, BertNormalizesLikeLlamaCpp) {
  auto tok = open_vocab("bert-bge");
  EXPECT_EQ(tok->decode(tok->encode("Hello world", false)), " hello world");
  EXPECT_EQ(tok->decode(tok->encode("  Hello,\n\tWorld!", false)), " hello, world!");
  EXPECT_EQ(tok->decode(tok->encode("F\xC3\xBChrer", false)), " fuhrer");  // Führer
  EXPECT_EQ(tok->decode(tok->encode("C\xE1\xBB\xAD"
                                    "a Vi\xE1\xBB\x87t",
                                    false)),
            " cua viet");                                                 // Cửa Việt
  EXPECT_EQ(tok->decode(tok->encode("unaffable", false)), " unaffable");  // ## pieces join without spaces
  EXPECT_GT(tok->encode("unaffable", false).size(), 1u);
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true)), " hello world");  // [CLS]/[SEP] removed
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true), false), "[CLS] hello world[SEP]");
}

// Arbitrary bytes (malformed UTF-8, NULs, control characters) never throw and
// give in-range ids. SentencePiece byte fallback reproduces well-formed input
// exactly; in malformed input a lead byte swallows the next bytes whatever
// they are (llama.cpp splits by the lead byte's length), so an escaped space
// after it comes back as U+2581. (A literal U+2581 in the input comes back as
// a space: SentencePiece writes spaces as U+2581, so the two are one token.)
TEST(RoundTrip, ArbitraryBytes) {
  std::mt19937 rng(1234);
  const std::string bytes =
      std::string("ab Z9.,'\n\t<|>[]") + std::string("\0\x80\xBF\xC3\xA9\xE2\x96\x81\xF0\xFF", 11);
  // clang-format off
  const std::vector<std::string> chars = {"a", "b", " ", "Z", "9", ".", "'", "\n", "\t", "<s>", "[SEP]",
                                          std::string(1, '\0'), "\xC3\xA9", "\xF0\x9F\x98\x80", "\xE4\xB8\xAD"};
  // clang-format on
  std::vector<std::string> inputs;  // even: random bytes, odd: well-formed UTF-8
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (size_t n = rng() % 40; n > 0; --n) {
      if (i % 2 == 1)
        s += chars[rng() % chars.size()];
      else
        s += rng() % 4 == 0 ? static_cast<char>(rng() % 256) : bytes[rng() % bytes.size()];
    }
    inputs.push_back(s);
  }
  int exact_checked = 0;
  for (const char* vocab : {"llama-spm", "gpt-2", "bert-bge"}) {
    auto tok = open_vocab(vocab);
    for (const auto& s : inputs) {
      for (bool parse_special : {false, true}) {
        const auto ids = tok->encode(s, true, parse_special);
        for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab()) << vocab;
        EXPECT_NO_THROW(tok->decode(ids));
      }
      if (std::string(vocab) == "llama-spm" && unicode::sanitize_utf8(s) == s) {
        EXPECT_EQ(tok->decode(tok->encode(s, false)), s);
        ++exact_checked;
      }
    }
  }
  EXPECT_GE(exact_checked, 150);
}

}  // namespace
}  // namespace edgerag
