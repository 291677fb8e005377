// tokenizer.json front end: a GGUF vocabulary exported as Hugging Face files
// and read back must tokenize every llama.cpp test string to the same ids.
#include "tokenizer/tokenizer_json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "hf_tokenizer_export.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag {
namespace {

namespace fs = std::filesystem;

class TokenizerJson : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgerag_tokjson_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The gpt-2 fixture vocabulary, optionally with another pre-tokenizer type and a chat template.
  std::unique_ptr<GgufFile> vocab(const std::string& pre) const {
    auto src = GgufFile::open(test::golden_path("tokenizer/ggml-vocab-gpt-2.gguf"));
    if (pre.empty()) return src;
    GgufWriter w;
    w.copy_metadata(*src);
    w.set_string("tokenizer.ggml.pre", pre);
    w.set_string("tokenizer.chat_template", "{{ messages }}");
    const std::string path = (dir_ / "vocab.gguf").string();
    w.write(path);
    return GgufFile::open(path);
  }

  // tokenizer.json (+ config) in dir_ -> GGUF metadata -> Tokenizer.
  std::unique_ptr<GgufFile> convert(int64_t n_vocab) const {
    GgufWriter w;
    tokenizer_json_to_gguf(dir_.string(), n_vocab, w);
    const std::string path = (dir_ / "converted.gguf").string();
    w.write(path);
    return GgufFile::open(path);
  }

  static std::vector<std::string> inputs() {
    const std::string inp = test::read_file(test::golden_path("tokenizer/ggml-vocab-gpt-2.gguf.inp"));
    std::vector<std::string> out;
    const std::string sep = "\n__ggml_vocab_test__\n";
    for (size_t pos = 0, hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
      out.push_back(inp.substr(pos, hit - pos));
    out.push_back("<|endoftext|>Hello<|endoftext|> world's 12345 numbers\n\n  spaces");
    return out;
  }

  static void expect_same(const Tokenizer& a, const Tokenizer& b) {
    EXPECT_EQ(a.n_vocab(), b.n_vocab());
    EXPECT_EQ(a.bos_id(), b.bos_id());
    EXPECT_EQ(a.eos_id(), b.eos_id());
    EXPECT_EQ(a.add_bos(), b.add_bos());
    EXPECT_EQ(a.pre_kind(), b.pre_kind());
    for (const auto& s : inputs()) {
      const auto ids = a.encode(s, true, true);
      EXPECT_EQ(ids, b.encode(s, true, true)) << s;
      EXPECT_EQ(a.decode(ids), b.decode(ids)) << s;
    }
  }

  fs::path dir_;
};

TEST_F(TokenizerJson, Gpt2ByteLevelMatchesGguf) {
  auto src = vocab("");
  test::export_tokenizer_json(*src, dir_.string());
  auto got = convert(0);
  EXPECT_EQ(got->get_string("tokenizer.ggml.pre"), "gpt-2");
  expect_same(*Tokenizer::from_gguf(*src), *Tokenizer::from_gguf(*got));
}

TEST_F(TokenizerJson, SplitRegexPicksQwen2AndLlama3PreTokenizers) {
  for (const std::string pre : {"qwen2", "llama-bpe"}) {
    auto src = vocab(pre);
    test::export_tokenizer_json(*src, dir_.string(), /*merges_as_pairs=*/pre == "qwen2");
    auto got = convert(0);
    EXPECT_EQ(got->get_string("tokenizer.ggml.pre"), pre);
    EXPECT_EQ(got->get_string("tokenizer.chat_template"), "{{ messages }}");
    expect_same(*Tokenizer::from_gguf(*src), *Tokenizer::from_gguf(*got));
  }
}

TEST_F(TokenizerJson, PadsToTheEmbeddingRowsMarksAddedTokensReadsTemplateFile) {
  auto src = vocab("");
  test::export_tokenizer_json(*src, dir_.string());
  std::ofstream(dir_ / "chat_template.jinja") << "{{ bos_token }}";
  const int64_t n = static_cast<int64_t>(src->get_string_array("tokenizer.ggml.tokens").size());
  auto got = convert(n + 3);
  EXPECT_EQ(got->get_string("tokenizer.chat_template"), "{{ bos_token }}");
  auto tok = Tokenizer::from_gguf(*got);
  EXPECT_EQ(tok->n_vocab(), n + 3);
  EXPECT_EQ(tok->token_text(static_cast<int32_t>(n + 1)), "[PAD" + std::to_string(n + 1) + "]");
  EXPECT_EQ(tok->token_type(static_cast<int32_t>(n + 1)), TokenType::Unused);
  EXPECT_EQ(tok->token_type(tok->find_token("<|endoftext|>")), TokenType::Control);
}

TEST_F(TokenizerJson, RejectsWhatItCannotReproduce) {
  auto src = vocab("");
  EXPECT_THROW(convert(0), Error);  // no tokenizer.json
  test::export_tokenizer_json(*src, dir_.string());
  const std::string path = (dir_ / "tokenizer.json").string();
  nlohmann::json tok = nlohmann::json::parse(test::read_file(path));
  const auto expect_error = [&](const nlohmann::json& j, const std::string& what) {
    std::ofstream(path) << j.dump();
    try {
      convert(0);
      FAIL() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto spm = tok;
  spm["model"]["byte_fallback"] = true;
  expect_error(spm, "byte_fallback");
  auto unigram = tok;
  unigram["model"]["type"] = "Unigram";
  expect_error(unigram, "'Unigram' is not supported");
  auto regex = tok;
  regex["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers",
                             {{{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}},
                              {{"type", "ByteLevel"}, {"use_regex", false}}}}};
  expect_error(regex, "regex '\\w+' is not supported");
  std::ofstream(path) << "{\"model\": ";
  EXPECT_THROW(convert(0), Error);
}

}  // namespace
}  // namespace edgerag
