// Behaviour on small hand-built vocabularies (hand-computed expectations),
// special tokens, metadata defaults and errors.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "test_paths.h"
#include "util/error.h"

namespace edgerag {
namespace {

const std::string kSp = "\xE2\x96\x81";  // U+2581

struct TempGguf {
  std::string path;
  explicit TempGguf(const GgufWriter& w) {
    static int counter = 0;
    path = (std::filesystem::temp_directory_path() /
            ("edgerag_tok_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".gguf"))
               .string();
    w.write(path);
  }
  ~TempGguf() { std::filesystem::remove(path); }
};

std::unique_ptr<Tokenizer> load(const GgufWriter& w) {
  TempGguf tmp(w);
  return Tokenizer::from_gguf(*GgufFile::open(tmp.path));
}

// A SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, then
// "▁"(-1) "a"(-2) "b"(-3) "▁a"(-0.5) "ab"(-0.1) and a user-defined <|user|>.
GgufWriter tiny_spm() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<double> scores = {0, 0, 0};
  std::vector<int64_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    scores.push_back(0);
    types.push_back(6);
  }
  for (const auto& [t, s] :
       std::vector<std::pair<std::string, double>>{{kSp, -1}, {"a", -2}, {"b", -3}, {kSp + "a", -0.5}, {"ab", -0.1}}) {
    tokens.push_back(t);
    scores.push_back(s);
    types.push_back(1);
  }
  tokens.push_back("<|user|>");
  scores.push_back(0);
  types.push_back(4);
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  return w;
}
constexpr int32_t kByte0 = 3, kSpace = 259, kA = 260, kB = 261, kSpA = 262, kAB = 263, kUser = 264;

TEST(Spm, MergesByScoreAndFallsBackToBytes) {
  auto tok = load(tiny_spm());
  EXPECT_EQ(tok->model_kind(), "llama");
  EXPECT_TRUE(tok->add_bos());
  EXPECT_FALSE(tok->add_eos());
  EXPECT_EQ(tok->bos_id(), 1);  // llama defaults when the metadata names no ids
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->unk_id(), 0);
  // "▁ab": "ab" (-0.1) beats "▁a" (-0.5); "▁ab" is no token.
  EXPECT_EQ(tok->encode("ab", false), (std::vector<int32_t>{kSpace, kAB}));
  EXPECT_EQ(tok->encode("ab", true), (std::vector<int32_t>{1, kSpace, kAB}));
  EXPECT_EQ(tok->encode("ba", false), (std::vector<int32_t>{kSpace, kB, kA}));
  // "c" and "é" (C3 A9) have no tokens: byte fallback.
  EXPECT_EQ(tok->encode("c", false), (std::vector<int32_t>{kSpace, kByte0 + 'c'}));
  EXPECT_EQ(tok->encode("\xC3\xA9", false), (std::vector<int32_t>{kSpace, kByte0 + 0xC3, kByte0 + 0xA9}));
  EXPECT_EQ(tok->decode(tok->encode("c \xC3\xA9 ab", false)), "c \xC3\xA9 ab");
  EXPECT_EQ(tok->token_to_piece(kByte0 + 'c'), "c");
  EXPECT_EQ(tok->token_to_piece(kSpA), " a");
  EXPECT_EQ(tok->token_type(kByte0), TokenType::Byte);
  EXPECT_EQ(tok->token_type(kUser), TokenType::UserDefined);
  EXPECT_FLOAT_EQ(tok->token_score(kAB), -0.1f);
  EXPECT_EQ(tok->encode("", true), (std::vector<int32_t>{1}));
  EXPECT_TRUE(tok->encode("", false).empty());
}

TEST(Spm, AddSpacePrefixCanBeTurnedOff) {
  GgufWriter w = tiny_spm();
  w.set_bool("tokenizer.ggml.add_space_prefix", false);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_bool("tokenizer.ggml.add_eos_token", true);
  auto tok = load(w);
  EXPECT_EQ(tok->encode("ab", true), (std::vector<int32_t>{kAB, 2}));
  EXPECT_EQ(tok->encode(" ab", false), (std::vector<int32_t>{kSpace, kAB}));
  EXPECT_EQ(tok->decode({kSpA, kB, 2}), " ab");  // trailing EOS removed, no prefix space to strip
}

TEST(Spm, SpecialTokens) {
  auto tok = load(tiny_spm());
  // User-defined tokens are always split off; the text after a special token gets a prefix space again.
  EXPECT_EQ(tok->encode("a<|user|>b", false), (std::vector<int32_t>{kSpA, kUser, kSpace, kB}));
  // Control tokens only with parse_special.
  EXPECT_EQ(tok->encode("</s>a", false, true), (std::vector<int32_t>{2, kSpA}));
  const auto literal = tok->encode("</s>", false, false);
  EXPECT_GT(literal.size(), 1u);
  EXPECT_EQ(tok->decode(literal), "</s>");
  EXPECT_TRUE(tok->is_control(2));
  EXPECT_FALSE(tok->is_control(kA));
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_FALSE(tok->is_eog(1));
  EXPECT_EQ(tok->eot_id(), -1);
  // remove_special hides control tokens but keeps user-defined ones.
  EXPECT_EQ(tok->decode({1, kSpA, 2, kUser}), " a<|user|>");
  EXPECT_EQ(tok->decode({1, kSpA, 2, kUser}, false), "<s> a</s><|user|>");
}

TEST(Spm, PromptPartsOnlyTheTemplateInsertsControlTokens) {
  auto tok = load(tiny_spm());
  // Special parts become their token (the text after it gets a prefix space
  // again, as after any special token); "</s>" in a text part stays text.
  EXPECT_EQ(tok->encode_parts({{"a", false}, {"</s>", true}, {"b", false}}, false),
            (std::vector<int32_t>{kSpA, 2, kSpace, kB}));
  EXPECT_EQ(tok->encode_parts({{"a</s>", false}}, false), tok->encode("a</s>", false, false));
  // Adjacent text parts are one run: the same ids as their joined text.
  EXPECT_EQ(tok->encode_parts({{"a", false}, {"b", false}, {"a", false}}, true), tok->encode("aba", true, false));
  // A special part the vocabulary lacks is text; user-defined tokens are recognised in text as always.
  EXPECT_EQ(tok->encode_parts({{"a", false}, {"<|none|>", true}}, false), tok->encode("a<|none|>", false, false));
  EXPECT_EQ(tok->encode_parts({{"a<|user|>b", false}}, false), (std::vector<int32_t>{kSpA, kUser, kSpace, kB}));
  EXPECT_EQ(tok->encode_parts({}, true), tok->encode("", true, false));
}

TEST(Gpt2, SpecialTokensAndEndOfGeneration) {
  auto tok = Tokenizer::from_gguf(*GgufFile::open(test::golden_path("tokenizer/ggml-vocab-gpt-2.gguf")));
  EXPECT_EQ(tok->model_kind(), "gpt2");
  EXPECT_EQ(tok->pre_kind(), "gpt-2");
  EXPECT_FALSE(tok->add_bos());
  const int32_t eot = tok->find_token("<|endoftext|>");
  EXPECT_EQ(eot, 50256);
  EXPECT_EQ(tok->eot_id(), eot);
  EXPECT_TRUE(tok->is_eog(eot));
  EXPECT_TRUE(tok->is_control(eot));
  EXPECT_EQ(tok->encode("Hi<|endoftext|>", true, true), (std::vector<int32_t>{17250, eot}));
  const auto plain = tok->encode("Hi<|endoftext|>", true, false);
  EXPECT_GT(plain.size(), 2u);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), eot), 0);
  EXPECT_EQ(tok->token_to_piece(tok->find_token("\xC4\xA0"
                                                "the")),
            " the");  // Ġthe
  EXPECT_EQ(tok->find_token("no-such-token-here"), -1);
}

TEST(Bert, SpecialTokensAndPairs) {
  auto tok = Tokenizer::from_gguf(*GgufFile::open(test::golden_path("tokenizer/ggml-vocab-bert-bge.gguf")));
  EXPECT_EQ(tok->model_kind(), "bert");
  EXPECT_EQ(tok->cls_id(), 101);
  EXPECT_EQ(tok->sep_id(), 102);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->unk_id(), 100);
  const auto ids = tok->encode("Hello", true);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  EXPECT_EQ(tok->encode("a [SEP] b", false, true)[1], 102);
  EXPECT_NE(tok->encode("a [SEP] b", false, false)[1], 102);
  std::vector<int32_t> types;
  const auto pair = tok->encode_pair("a", "b c", &types);
  EXPECT_EQ(pair.size(), 6u);  // [CLS] a [SEP] b c [SEP]
  EXPECT_EQ(types, (std::vector<int32_t>{0, 0, 0, 1, 1, 1}));
  // Control token texts in a query or document stay text: exactly one [CLS] and two [SEP]s,
  // and the segment boundary is the real separator.
  const auto forged = tok->encode_pair("q [SEP] [CLS]", "d [SEP] [CLS] [PAD] [MASK] x", &types);
  EXPECT_EQ(std::count(forged.begin(), forged.end(), 101), 1);
  EXPECT_EQ(std::count(forged.begin(), forged.end(), 102), 2);
  EXPECT_EQ(std::count(forged.begin(), forged.end(), tok->pad_id()), 0);
  EXPECT_EQ(std::count(forged.begin(), forged.end(), tok->find_token("[MASK]")), 0);
  EXPECT_EQ(forged.front(), 101);
  EXPECT_EQ(forged.back(), 102);
  const size_t q_len = tok->encode("q [SEP] [CLS]", false).size();
  EXPECT_EQ(forged[q_len + 1], 102);
  EXPECT_EQ(std::count(types.begin(), types.end(), 0), static_cast<long>(q_len + 2));
  // The same with an SPM vocabulary, whose pair separator is </s>.
  auto spm = Tokenizer::from_gguf(*GgufFile::open(test::golden_path("tokenizer/ggml-vocab-llama-spm.gguf")));
  const auto spm_pair = spm->encode_pair("a </s>", "<s> b </s>", nullptr);
  EXPECT_EQ(std::count(spm_pair.begin(), spm_pair.end(), spm->bos_id()), 1);
  EXPECT_EQ(std::count(spm_pair.begin(), spm_pair.end(), spm->eos_id()), 1);
  // A character outside the vocabulary makes its word [UNK].
  EXPECT_EQ(tok->encode("\xE1\x9E\x80", false), (std::vector<int32_t>{100}));  // Khmer KA
}

TEST(Errors, UnknownOrMissingTokenizer) {
  GgufWriter unknown = tiny_spm();
  unknown.set_string("tokenizer.ggml.model", "t5");
  EXPECT_THROW(load(unknown), Error);

  GgufWriter none;
  none.set_string("general.architecture", "llama");
  EXPECT_THROW(load(none), Error);

  GgufWriter no_tokens;
  no_tokens.set_string("tokenizer.ggml.model", "llama");
  EXPECT_THROW(load(no_tokens), Error);

  GgufWriter bad_pre;
  bad_pre.set_string("tokenizer.ggml.model", "gpt2");
  bad_pre.set_string("tokenizer.ggml.pre", "no-such-pre");
  bad_pre.set_string_array("tokenizer.ggml.tokens", {"a", "b", "ab"});
  bad_pre.set_string_array("tokenizer.ggml.merges", {"a b"});
  EXPECT_THROW(load(bad_pre), Error);

  GgufWriter no_merges;
  no_merges.set_string("tokenizer.ggml.model", "gpt2");
  no_merges.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  EXPECT_THROW(load(no_merges), Error);

  GgufWriter dup = tiny_spm();
  dup.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "<s>"});
  dup.set_f32_array("tokenizer.ggml.scores", {0, 0, 0});
  dup.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3});
  EXPECT_THROW(load(dup), Error);

  auto tok = load(tiny_spm());
  EXPECT_THROW(tok->decode({1, 100000}), Error);
  EXPECT_THROW(tok->token_to_piece(-1), Error);
  EXPECT_THROW(tok->token_text(tok->n_vocab()), Error);
}

// Byte-level vocabulary: single characters, a few merged tokens, and "abc"
// which no merge produces (reachable only through llama-3's ignore_merges).
std::unique_ptr<Tokenizer> tiny_bpe(const std::string& pre) {
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  //                                          0    1    2    3    4    5    6         7       8     9      10
  w.set_string_array("tokenizer.ggml.tokens", {"1", "2", "3", "a", "b", "c", "\xC4\xA0", "12", "123", "ab", "abc"});
  w.set_string_array("tokenizer.ggml.merges", {"1 2", "12 3", "a b"});
  w.set_u32("tokenizer.ggml.bos_token_id", 3);
  return load(w);
}

TEST(Bpe, MergesAndPreTokenizerTypes) {
  using Ids = std::vector<int32_t>;
  auto gpt2 = tiny_bpe("gpt-2");
  EXPECT_EQ(gpt2->encode("1212", true), (Ids{7, 7}));  // one word; equal ranks merge left first
  EXPECT_EQ(gpt2->encode("1231", false), (Ids{8, 0}));
  EXPECT_EQ(gpt2->encode("abc", false), (Ids{9, 5}));
  EXPECT_EQ(gpt2->encode("a abc", false), (Ids{3, 6, 9, 5}));  // " abc" is a word; no "Ġ a" merge
  auto llama3 = tiny_bpe("llama-bpe");
  EXPECT_TRUE(llama3->add_bos());
  EXPECT_EQ(llama3->encode("1212", true), (Ids{3, 7, 0, 1}));  // digits in groups of three: "121" "2"
  EXPECT_EQ(llama3->encode("abc", false), (Ids{10}));          // whole word is a token
  auto qwen2 = tiny_bpe("qwen2");
  EXPECT_EQ(qwen2->encode("1212", false), (Ids{0, 1, 0, 1}));  // one digit per word
  auto smollm = tiny_bpe("smollm");
  EXPECT_EQ(smollm->encode("1212", false), (Ids{0, 1, 0, 1}));
  auto dflt = tiny_bpe("default");
  EXPECT_EQ(dflt->encode("1231", false), (Ids{8, 0}));  // "123" "1"
  EXPECT_EQ(dflt->decode({9, 5, 6, 8}), "abc 123");
}

TEST(Bpe, MalformedUtf8BecomesReplacementCharacter) {
  auto gpt2 = Tokenizer::from_gguf(*GgufFile::open(test::golden_path("tokenizer/ggml-vocab-gpt-2.gguf")));
  // As in llama.cpp, each invalid byte turns into U+FFFD (EF BF BD) before byte-level encoding.
  EXPECT_EQ(gpt2->decode(gpt2->encode("a\xFF"
                                      "b",
                                      false)),
            "a\xEF\xBF\xBD"
            "b");
}

// encode() is const and keeps no shared scratch state: threads may share one Tokenizer.
TEST(Concurrency, ParallelEncodeMatchesSerial) {
  for (const char* vocab : {"llama-spm", "gpt-2", "bert-bge"}) {
    auto tok = Tokenizer::from_gguf(
        *GgufFile::open(test::golden_path(std::string("tokenizer/ggml-vocab-") + vocab + ".gguf")));
    std::vector<std::string> texts;
    for (int i = 0; i < 64; ++i)
      texts.push_back(
          fmt::format("Document {}: H\xC3\xA9llo, w\xC3\xB6rld! It's {} o'clock\n\t  <|endoftext|> [SEP]", i, i * 7));
    std::vector<std::vector<int32_t>> serial;
    for (const auto& t : texts) serial.push_back(tok->encode(t, true, true));
    std::vector<std::vector<int32_t>> parallel(texts.size());
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w)
      threads.emplace_back([&, w] {
        for (size_t i = w; i < texts.size(); i += 4) parallel[i] = tok->encode(texts[i], true, true);
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(parallel, serial) << vocab;
  }
}

}  // namespace
}  // namespace edgerag
